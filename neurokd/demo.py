"""``neurokd demo``: the whole job, end to end, on the embedded digits dataset.

The demo is a list of stages (:data:`STAGES`); each stage trains, exports or measures something, adds rows to
the results table and a section to ``<out>/summary.json``. The summary is rewritten atomically after every
stage, so an interrupted demo still leaves a valid summary of what finished. Later features add stages.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurokd.config import RunConfig, build_config
from neurokd.data import DataSplits, load_dataset
from neurokd.io import write_json, write_text
from neurokd.tables import markdown_table
from neurokd.train import TrainResult, run_training

# Stage functions, "module:function", run in order. Each takes the DemoContext.
STAGES: list[str] = [
    "neurokd.demo:stage_teacher",
    "neurokd.demo:stage_snn",
    "neurokd.distill.demo:stage_snn_kd",
    "neurokd.distill.demo:stage_snn_blockwise",
    "exporters.nir.demo:stage_nir",
    "exporters.lava.demo:stage_lava",
    "hardware.demo:stage_hardware",
    "neurokd.stream.dvs_demo:stage_dvs",  # only with --dvs
]

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


def stage_teacher(ctx: DemoContext) -> None:
    r = ctx.train("teacher", TEACHER)
    ctx.summary["teacher"] = {"test_acc": r.summary["test_acc"], "arch": r.summary["arch"],
                              "train_seconds": r.summary["train_seconds"], "path": str(r.run_dir)}
    ctx.rows.append(["teacher", "ann", "ce", "-", r.summary["test_acc"], r.summary["train_seconds"]])


def stage_snn(ctx: DemoContext) -> None:
    r = ctx.train("snn", SNN)
    ctx.summary["snn"] = {"test_acc": r.summary["test_acc"], "method": "bptt",
                          "train_seconds": r.summary["train_seconds"], "path": str(r.run_dir)}
    ctx.rows.append(["snn", "snn", "bptt (no KD)", ctx.T, r.summary["test_acc"], r.summary["train_seconds"]])


def _resolve(ref: str) -> Callable[[DemoContext], None]:
    module, func = ref.split(":")
    return getattr(importlib.import_module(module), func)


def run_demo(out_dir: str | Path = "runs/demo", seed: int = 0, T: int = 4, progress: bool = True,
             dvs: bool = False) -> dict[str, Any]:
    ctx = DemoContext(Path(out_dir), seed=seed, T=T, progress=progress, dvs=dvs)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    ctx.splits = load_dataset(ctx.config("demo", {}).data, seed)
    ctx.summary.update({"dataset": "digits", "T": T, "seed": seed})
    t0 = time.perf_counter()
    ctx.summary["stage_seconds"] = {}
    ctx.summary["stage_cpu_seconds"] = {}  # CPU time of this process (all its threads): comparable under load
    for ref in STAGES:
        stage = _resolve(ref)
        name = ref.split(":")[1].removeprefix("stage_")
        print(f"== demo stage: {name}", file=sys.stderr)
        t_stage, cpu_stage = time.perf_counter(), time.process_time()
        stage(ctx)
        ctx.summary["stage_seconds"][name] = round(time.perf_counter() - t_stage, 1)
        ctx.summary["stage_cpu_seconds"][name] = round(time.process_time() - cpu_stage, 1)
        ctx.summary["demo_seconds"] = round(time.perf_counter() - t0, 1)
        ctx.save()
    table = markdown_table(TABLE_HEADERS, ctx.rows)
    write_text(ctx.out_dir / "results.md", table + "\n")
    print(table)
    print(f"\nsummary: {ctx.out_dir / 'summary.json'}  ({ctx.summary['demo_seconds']}s)")
    return ctx.summary
