"""The demo's training stages: the teacher, a plain SNN (BPTT) and spiking students distilled from the teacher with
the demo's SNN recipe.

``snn_kd``: response KD (KDSNN). ``snn_blockwise``: block-wise hybrid replacement trained with rate-based
backprop, the toolkit's headline method; the NIR, Lava and hardware stages use it (``DemoContext.headline``).
"""

from __future__ import annotations

from neurokd.demo.context import SNN, TEACHER, DemoContext
from neurokd.distill import distill

# Response KD (KDSNN) with the benchmark's settings; the recipe is the plain SNN's, so the rows compare.
KD = {"distill.method": "response", "distill.alpha": 0.5, "distill.tau": 4.0}
# Block-wise replacement with its defaults (branches after stage1 and stage2, weights 1/4 and 1/2, 1x1 conv + BN
# aligners, CE + KD on every hybrid) under rate-BP; same KD weight and temperature as snn_kd.
BLOCKWISE = {"distill.method": "blockwise", "distill.alpha": 0.5, "distill.tau": 4.0, "train.backprop": "rate"}


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


def _distill_student(ctx, key: str, method: dict):
    """Distill ``key`` from ``ctx.runs["teacher"]`` with the demo's SNN recipe plus ``method``'s keys."""
    teacher = ctx.runs["teacher"]
    cfg = ctx.config(key, {**SNN, **method, "distill.teacher": str(teacher.run_dir)})
    r = distill(cfg, splits=ctx.splits, overwrite=True)
    ctx.runs[key] = r
    return r


def stage_snn_kd(ctx) -> None:
    """Train ``snn_kd`` from ``ctx.runs["teacher"]``; adds ``summary["snn_kd"]`` and a table row."""
    r = _distill_student(ctx, "snn_kd", KD)
    s = r.summary
    ctx.summary["snn_kd"] = {"test_acc": s["test_acc"], "method": s["method"], "alpha": s["alpha"], "tau": s["tau"],
                             "teacher": str(ctx.runs["teacher"].run_dir), "teacher_test_acc": s["teacher_test_acc"],
                             "train_seconds": s["train_seconds"], "path": str(r.run_dir)}
    ctx.rows.append(["snn_kd", "snn", f"KD {s['method']}", ctx.T, s["test_acc"], s["train_seconds"]])


def stage_snn_blockwise(ctx) -> None:
    """Train ``snn_blockwise`` (blockwise + rate-BP) from ``ctx.runs["teacher"]``; the headline student."""
    r = _distill_student(ctx, "snn_blockwise", BLOCKWISE)
    s = r.summary
    ctx.summary["snn_blockwise"] = {
        "test_acc": s["test_acc"], "train_seconds": s["train_seconds"], "peak_mem_mb": s["peak_mem_mb"],
        "method": s["method"], "backprop": s["backprop"], "branches": s["branches"],
        "branch_weights": s["branch_weights"], "alpha": s["alpha"], "tau": s["tau"],
        "teacher_test_acc": s["teacher_test_acc"], "path": str(r.run_dir),
    }
    ctx.rows.append(["snn_blockwise", "snn", "blockwise + rate-BP", ctx.T, s["test_acc"], s["train_seconds"]])
