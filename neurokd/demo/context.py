"""The demo's shared state: :class:`DemoContext` (folder, dataset, trained runs, summary, table rows) and the
training recipe every demo model uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.data import DataSplits
from neurokd.io import write_json
from neurokd.train import TrainResult, run_training

TABLE_HEADERS = ["model", "kind", "method", "T", "test_acc", "train_s"]


@dataclass
class DemoContext:
    out_dir: Path
    seed: int = 0
    T: int = 4
    progress: bool = True
    dvs: bool = False
    data: dict[str, Any] = field(default_factory=lambda: {"data.name": "digits"})  # data.* keys of every run
    splits: DataSplits | None = None
    runs: dict[str, TrainResult] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    rows: list[list[Any]] = field(default_factory=list)

    def config(self, name: str, overrides: dict[str, Any]) -> RunConfig:
        """A run config under the demo folder with the demo's dataset (``data``), seed and T."""
        base = {"name": name, "out_dir": str(self.out_dir), "seed": self.seed, **self.data,
                "model.arch": "cnn", "model.T": self.T, "train.progress": self.progress}
        base.update(overrides)
        return build_config(RunConfig, overrides=base)

    def train(self, key: str, overrides: dict[str, Any], **kwargs) -> TrainResult:
        kwargs.setdefault("splits", self.splits)
        result = run_training(self.config(key, overrides), overwrite=True, **kwargs)
        self.runs[key] = result
        return result

    @property
    def headline(self) -> str:
        """Key of the student that exports and hardware reports use: the best method that ran."""
        for key in ("snn_blockwise", "snn_kd", "snn"):
            if key in self.runs:
                return key
        raise KeyError("no SNN has been trained yet")

    def save(self) -> None:
        write_json(self.out_dir / "summary.json", self.summary)


# Shared recipe (tuned on the validation split): AdamW, cosine, 1-pixel random crops, width-32 cnn. 30 epochs
# (was 40): four trainings (teacher, snn, snn_kd, snn_blockwise) now share the demo's former budget of 3 x 40.
RECIPE = {"model.arch": "cnn", "model.width": 32, "data.augment": ["crop"], "optim.epochs": 30,
          "optim.lr": 3e-3, "optim.weight_decay": 1e-4}
TEACHER = {**RECIPE, "model.kind": "ann"}
SNN = {**RECIPE, "model.kind": "snn"}
