"""Run ``neurokd ARGS`` and SIGKILL the process at one chosen write point, as a crash there would.

    python -m tests.runs.killpoint POINT ARGS...

The hooks wrap the standard calls every write goes through (``os.replace`` of an atomic write's temporary
file, ``Path.unlink``, ``shutil.rmtree``) or the metrics append, so they hold whatever the writers' internals.
A process that never reaches its point exits normally: the caller sees an exit code other than -9.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import sys
from collections.abc import Callable


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _before_rename_of(name: str) -> None:
    """Killed with the temporary file of ``name`` written and fsync'ed but not yet renamed into place."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if os.path.basename(dst) == name:
            _die()
        return real(src, dst, *a, **k)

    os.replace = replace


def _after_lock() -> None:
    from neurokd.runs import lock

    real = lock.FolderLock.acquire

    def acquire(self):
        real(self)
        _die()

    lock.FolderLock.acquire = acquire


def _half_metrics_line(epoch: int) -> None:
    """Killed with half of epoch ``epoch``'s record appended to ``metrics.jsonl``."""
    from neurokd.runs import metrics

    real = metrics.append_metrics

    def append(path, record):
        if record["epoch"] != epoch:
            return real(path, record)
        with open(path, "a") as fh:
            line = json.dumps(record) + "\n"
            fh.write(line[: len(line) // 2])
            fh.flush()
            os.fsync(fh.fileno())
        _die()

    metrics.append_metrics = append


def _pruning(name: str) -> None:
    """Killed as the old checkpoint ``name`` is about to be deleted (the new one in place)."""
    real = pathlib.Path.unlink

    def unlink(self, *a, **k):
        if self.name == name:
            _die()
        return real(self, *a, **k)

    pathlib.Path.unlink = unlink


def _mid_deletion() -> None:
    """Killed in ``--overwrite``'s deletion, right after its first folder (``checkpoints``) is gone."""
    real = shutil.rmtree

    def rmtree(path, *a, **k):
        real(path, *a, **k)
        _die()

    shutil.rmtree = rmtree


POINTS: dict[str, Callable[[], None]] = {
    "after-lock": _after_lock,
    "overwrite-deleting": _mid_deletion,
    "config-write": lambda: _before_rename_of("config.yaml"),
    "model-json-write": lambda: _before_rename_of("model.json"),
    "metrics-append-1": lambda: _half_metrics_line(1),
    "checkpoint-write-1": lambda: _before_rename_of("epoch_0001.safetensors"),
    "metrics-append-2": lambda: _half_metrics_line(2),
    "checkpoint-write-2": lambda: _before_rename_of("epoch_0002.safetensors"),
    "checkpoint-prune-3": lambda: _pruning("epoch_0001.safetensors"),
    "model-write": lambda: _before_rename_of("model.safetensors"),
    "summary-write": lambda: _before_rename_of("summary.json"),
    "resume-metrics-rewrite": lambda: _before_rename_of("metrics.jsonl"),
    "resume-config-write": lambda: _before_rename_of("config.yaml"),
}

if __name__ == "__main__":
    POINTS[sys.argv[1]]()
    from neurokd.cli import main

    sys.exit(main(sys.argv[2:]))
