"""``metrics.jsonl``: one JSON record per finished epoch, appended durably; a resumed run drops the records of the
epochs it redoes."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neurokd.io import atomic_open


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The epoch records of ``path``; a line a crash cut short is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
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
        if r.get("val_acc") is not None and (best is None or r["val_acc"] >= best["val_acc"]):
            best = r
    return best


def recorded_train_seconds(records: Sequence[dict[str, Any]]) -> float:
    """Training seconds of the recorded epochs (a resumed run adds its new epochs to these)."""
    return sum(r.get("epoch_s", 0.0) for r in records)
