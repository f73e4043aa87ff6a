"""Extra epoch logs in the run folder (``train.log_to``), beside ``metrics.jsonl``: ``csv`` (``metrics.csv``) and
``tensorboard`` (event files under ``tensorboard/``). Each is written by rank 0 after the epoch's metrics line."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Protocol

from neurokd.config import LOG_SINKS
from neurokd.errors import ConfigError
from neurokd.io import write_text
from neurokd.runs.metrics import read_metrics


class EpochLogger(Protocol):
    def log(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class CsvLogger:
    """``metrics.csv``, rewritten from ``metrics.jsonl`` after every epoch (so a resumed run's redone epochs are
    never doubled); one column per key in order of first appearance, empty where an epoch has no value."""

    def __init__(self, run_dir: Path):
        self.jsonl, self.path = run_dir / "metrics.jsonl", run_dir / "metrics.csv"

    def log(self, record: dict[str, Any]) -> None:
        records = read_metrics(self.jsonl)
        columns = list(dict.fromkeys(k for r in records for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        write_text(self.path, buf.getvalue())

    def close(self) -> None:
        pass


class TensorBoardLogger:
    """Scalars of every epoch (``train_loss``, ``val_acc``, ``lr``, ...) at step = epoch, under ``tensorboard/``."""

    def __init__(self, run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("config key 'train.log_to': tensorboard needs the tensorboard package "
                              "(pip install tensorboard), or use csv") from None
        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, record["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


_SINKS = {"csv": CsvLogger, "tensorboard": TensorBoardLogger}
if set(_SINKS) != set(LOG_SINKS):
    raise ImportError(f"neurokd.train.loggers: sinks {sorted(_SINKS)} do not match train.log_to {LOG_SINKS}")


def open_loggers(names: list[str], run_dir: Path) -> list[EpochLogger]:
    """The loggers ``train.log_to`` names, writing into ``run_dir``."""
    return [_SINKS[name](run_dir) for name in dict.fromkeys(names)]
