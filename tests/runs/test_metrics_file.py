"""``metrics.jsonl`` and ``summary.json`` of a run folder are read as untrusted files: regular files within a size
limit, bounded nesting, and only well-formed records used."""

from __future__ import annotations

import os

import pytest

from neurokd.errors import UserError
from neurokd.runs import Run
from neurokd.runs.metrics import best_val_record, read_metrics


def test_cut_short_deep_and_non_object_lines_are_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "val_acc": 0.5}\n[1, 2]\n' + "[" * 100_000 + "\n"
                    + '{"epoch": 2, "val_acc": NaN}\n{"epoch": 3, "val_acc": 0.4}\n{"epoch": 4, "val_')
    records = read_metrics(path)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert best_val_record(records)["epoch"] == 1  # a NaN accuracy is never the best epoch


def test_a_fifo_or_a_huge_metrics_file_is_refused(tmp_path, monkeypatch):
    fifo = tmp_path / "metrics.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="metrics file .*FIFO"):
        read_metrics(fifo)
    fifo.unlink()
    monkeypatch.setattr("neurokd.runs.metrics.METRICS_BYTES", 64)
    fifo.write_text('{"epoch": 1}\n' * 10)  # a regular file now, over the (lowered) limit
    with pytest.raises(UserError, match="over the 64 bytes limit"):
        read_metrics(fifo)


@pytest.mark.parametrize("text, message", [("[1, 2]", "not a JSON object"), ("[" * 10_000, "nest"),
                                           ('{"test_acc": ', "not valid JSON")])
def test_a_broken_summary_is_one_error(tmp_path, text, message):
    (tmp_path / "config.yaml").write_text("name: r\n")
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(UserError, match=message):
        Run(tmp_path).summary()
