"""``metrics.jsonl``: one JSON record per finished epoch, appended durably; a resumed run drops the records of the
epochs it redoes."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neurokd.errors import UserError
from neurokd.io import atomic_open, read_bytes
from neurokd.parsing import load_json_text

METRICS_BYTES = 256 * 2**20  # a record is a few hundred bytes: room for far more epochs than config.EPOCHS_MAX


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The epoch records of ``path`` (a regular file within :data:`METRICS_BYTES`); a line a crash cut short, or
    one that is not a JSON object, is skipped."""
    if not path.exists():
        return []
    text = read_bytes(path, "metrics file", limit=METRICS_BYTES).decode("utf-8", errors="replace")
    out = []
    for line in text.splitlines():
        try:
            record = load_json_text(line, f"{path}")
        except UserError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def append_metrics(path: Path, record: dict[str, Any]) -> None:
    """Append one epoch record and make it durable before the epoch's checkpoint is written."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def truncate_metrics(path: Path, upto_epoch: int) -> None:
    """Keep the records of epochs ``<= upto_epoch`` (those a resume restarts after), atomically."""
    if not path.exists():
        return
    keep = [json.dumps(r) for r in read_metrics(path) if r.get("epoch", 0) <= upto_epoch]
    with atomic_open(path) as fh:
        fh.write("".join(line + "\n" for line in keep))


def best_val_record(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch record the run selects: the highest ``val_acc``, the later epoch on ties (None without a
    validation split)."""
    best = None
    for r in records:
        acc = r.get("val_acc")
        if isinstance(acc, int | float) and math.isfinite(acc) and (best is None or acc >= best["val_acc"]):
            best = r
    return best


def recorded_train_seconds(records: Sequence[dict[str, Any]]) -> float:
    """Training seconds of the recorded epochs (a resumed run adds its new epochs to these)."""
    return sum(r.get("epoch_s", 0.0) for r in records)
