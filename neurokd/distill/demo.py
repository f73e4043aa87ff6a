"""The demo's KD stage: a spiking student distilled from the demo's teacher with the demo's SNN recipe."""

from __future__ import annotations

from neurokd.distill.run import distill

# Response KD (KDSNN) with the benchmark's settings; the recipe is the plain SNN's, so the rows compare.
KD = {"distill.method": "response", "distill.alpha": 0.5, "distill.tau": 4.0}


def stage_snn_kd(ctx) -> None:
    """Train ``snn_kd`` from ``ctx.runs["teacher"]``; adds ``summary["snn_kd"]`` and a table row."""
    from neurokd.demo import SNN

    teacher = ctx.runs["teacher"]
    cfg = ctx.config("snn_kd", {**SNN, **KD, "distill.teacher": str(teacher.run_dir)})
    r = distill(cfg, splits=ctx.splits, overwrite=True)
    ctx.runs["snn_kd"] = r
    s = r.summary
    ctx.summary["snn_kd"] = {"test_acc": s["test_acc"], "method": s["method"], "alpha": s["alpha"], "tau": s["tau"],
                             "teacher": str(teacher.run_dir), "teacher_test_acc": s["teacher_test_acc"],
                             "train_seconds": s["train_seconds"], "path": str(r.run_dir)}
    ctx.rows.append(["snn_kd", "snn", f"KD {s['method']}", ctx.T, s["test_acc"], s["train_seconds"]])
