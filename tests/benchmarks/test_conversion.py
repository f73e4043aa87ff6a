"""The conversion benchmark's bookkeeping: fine-tuning sections, the decision table, targets, docs sections."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import conversion  # noqa: E402 (benchmarks is not a package)


def _summary(acc):
    return {"test_acc": acc, "train_seconds": 10.0, "first_val_acc": acc / 2}


def _report():
    done = {(12, 2, "random", "blockwise_rate"): {0: _summary(0.90), 1: _summary(0.92)},
            (12, 2, "converted", "blockwise_rate"): {0: _summary(0.95), 1: _summary(0.91)},
            (3, 2, "random", "response"): {0: _summary(0.60)},
            (3, 2, "converted", "response"): {0: _summary(0.80)}}
    return {"dataset": "mnist1d", "arch": "resnet1d", "test_samples": 2000,
            "teacher": {"relu": 0.96, "qcfs_L4": 0.95, "qcfs_L8": 0.97},
            "rows": [{"method": "threshold-balance", "L": None, "T": 2, "test_acc": 0.30, "seconds": 1.0},
                     {"method": "threshold-balance", "L": None, "initial_membrane": 0.5, "T": 2, "test_acc": 0.40,
                      "seconds": 1.0},
                     {"method": "qcfs", "L": 4, "T": 2, "test_acc": 0.85, "seconds": 0.01},
                     {"method": "qcfs", "L": 4, "T": 8, "test_acc": 0.945, "seconds": 0.01},
                     {"method": "qcfs", "L": 8, "T": 16, "test_acc": 0.95, "seconds": 0.01}],
            "finetune": conversion.finetune_section(done),
            "reference": {"epochs": 12, "T2": {"blockwise_rate": {"mean": 0.938, "std": 0.01, "runs": [0.938],
                                                                  "seeds": [0]}}}}


def test_finetune_section_is_keyed_by_T_budget_and_init_method():
    ft = _report()["finetune"]
    assert list(ft["T2"]) == ["12", "3"]
    cell = ft["T2"]["12"]["converted_blockwise_rate"]
    assert cell["runs"] == [0.95, 0.91] and cell["seeds"] == [0, 1] and cell["mean"] == pytest.approx(0.93)
    assert cell["first_epoch_val"] == pytest.approx(0.465)


def test_decisions_pick_the_best_measured_option_per_T_and_budget():
    d = {(x["T"], x["epochs"]): x for x in conversion.decisions(_report())}
    assert d[(2, 0)]["choice"] == "convert: qcfs, L = 4 (a QCFS teacher)" and d[(2, 0)]["acc"] == 0.85
    assert d[(2, 12)]["choice"] == "distill from random weights (blockwise rate-BP), LIF (methods benchmark)"
    assert d[(2, 12)]["runner_up"] == ("convert, then distill (blockwise rate-BP)", pytest.approx(0.93))
    assert d[(2, 3)]["choice"] == "convert, then distill (response KD)"


def test_targets_are_checked_on_the_numbers():
    lines = conversion.targets(_report())
    assert any("T = 2L = 8: 94.50% against its L = 4 teacher's 95.00% (0.50 points below it" in t and "met" in t
               for t in lines)
    above = _report()
    above["teacher"]["qcfs_L4"] = 0.94
    assert any("T = 2L = 8: 94.50% against its L = 4 teacher's 94.00% (0.50 points above it" in t and "met" in t
               for t in conversion.targets(above))
    assert any("T = 2L = 16" in t and t.endswith("missed.") for t in lines)  # 97.00 - 95.00 = 2 points
    bw = next(t for t in lines if t.startswith("Blockwise"))
    assert "at least as accurate" in bw and "3.00 points below the ReLU teacher's 96.00%" in bw and "missed" in bw


def test_docs_sections_are_replaced_between_their_markers():
    text = "intro\n" + conversion._section("mnist1d:sweep", "old table") + "\nrest\n"
    out = conversion.replace_section(text, "mnist1d:sweep", "new table")
    assert "new table" in out and "old table" not in out and out.startswith("intro\n") and out.endswith("rest\n")
    with pytest.raises(ValueError, match="no '<!-- conversion:digits:sweep"):
        conversion.replace_section(text, "digits:sweep", "x")
    sections = conversion.doc_sections(_report())
    assert set(sections) == {"mnist1d:sweep", "mnist1d:finetune", "mnist1d:decisions", "mnist1d:robustness"}
    assert "| threshold-balance " in sections["mnist1d:sweep"] and "96.00" in sections["mnist1d:sweep"]
    assert "| threshold-balance, starts at θ/2 | 96.00" in sections["mnist1d:sweep"]
    assert "| qcfs, L = 4" in sections["mnist1d:sweep"]


def test_committed_tables_are_the_ones_the_jsons_render():
    """docs/*.md's conversion sections and conversion_<dataset>.md are generated: editing a number by hand, or a
    JSON without re-rendering, fails here."""
    for dataset in ("mnist1d", "digits"):
        path = conversion.RESULTS / f"conversion_{dataset}.json"
        report = json.loads(path.read_text())
        assert (conversion.RESULTS / f"conversion_{dataset}.md").read_text() == conversion.markdown_report(report)
        for name, body in conversion.doc_sections(report).items():
            docs = [p.read_text() for p in conversion.DOCS.values() if f"<!-- conversion:{name} (" in p.read_text()]
            assert docs, f"no docs section {name}"
            for text in docs:
                assert conversion.replace_section(text, name, body) == text, f"docs section {name} is stale"
