"""``neurokd demo`` stage: hardware report of the headline student against the teacher on the demo's test set."""

from __future__ import annotations

import sys

from neurokd.data import make_loaders
from neurokd.demo.context import DemoContext
from neurokd.hardware.analyse import analyse
from neurokd.hardware.chips import builtin_chips
from neurokd.hardware.report import write_report

DEMO_CHIPS = list(builtin_chips())  # every built-in profile


def stage_hardware(ctx: DemoContext) -> None:
    """Counts, energy per chip and chip fit of ``ctx.runs[ctx.headline]`` vs ``ctx.runs["teacher"]``."""
    key = ctx.headline
    student = ctx.runs[key]
    teacher = ctx.runs.get("teacher")
    test = make_loaders(ctx.splits, ctx.config(key, {}).data, ctx.seed)[2]
    report = analyse(student.model, test, DEMO_CHIPS, teacher=None if teacher is None else teacher.model,
                     title=key, meta={"model": f"{key} ({student.model.spec.arch} SNN)",
                                      "dataset": ctx.summary.get("dataset", "digits"),
                                      "split": "test", "teacher": "teacher" if teacher else None},
                     progress=ctx.progress, teacher_source="demo teacher" if teacher else "")
    paths = write_report(report, ctx.out_dir / "hardware")
    ctx.summary["hardware"] = {"model": key, **report.summary(), "report": str(paths["md"])}
    s = report.summary()
    energy = ", ".join(f"{chip} {uj:.3g}" for chip, uj in s["energy_uj"].items() if uj is not None)
    effective = s["ann_effective_macs_per_sample"]
    print(f"hardware: {key} SynOps {s['synops_per_sample']:.4g}/sample vs teacher dense MACs "
          f"{s['ann_dense_macs_per_sample']:.4g}/sample"
          + (f" (effective {effective:.4g})" if effective is not None else "")
          + f"; energy uJ/sample: {energy}", file=sys.stderr)
