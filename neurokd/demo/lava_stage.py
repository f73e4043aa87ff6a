"""Demo stages: export the headline student to Loihi 2 (netx), check it bit-accurately, run a few on Lava; and
a residual network as a Lava graph.

``stage_lava`` adds ``lava: {"path", "float_acc", "fixed_acc", "lava_spike_equal", ...}`` to the demo summary:
``float_acc`` is the float SNN on the test split, ``fixed_acc`` the exported fixed-point network on the same
split (bit-accurate NumPy model), and ``lava_spike_equal`` whether Lava's simulator (lava-dl netx on
``Loihi2SimCfg(select_tag="fixed_pt")``) reproduced the NumPy model spike for spike, in every layer, and the
readout membranes exactly, on the first :data:`LAVA_SAMPLES` test samples (Lava runs a few steps per second).

``stage_lava_residual`` adds ``lava_residual``: a tiny resnet20 (:data:`RESIDUAL`; untrained, its BatchNorm
calibrated on training images so that every layer fires: the stage shows the residual form, not accuracy)
exported as a ``.lava`` graph (residual adds as fan-in, shortcuts delayed one step), run with the NumPy model
on :data:`RESIDUAL_SAMPLES` test samples and, when Lava is installed, on Lava for :data:`RESIDUAL_LAVA_SAMPLES`
of them (``lava_spike_equal``). Most of its time is Lava's start-up and teardown of ~70 worker processes.
"""

from __future__ import annotations

import numpy as np
import torch

from neurokd.demo.context import DemoContext

LAVA_SAMPLES = 8
RESIDUAL = {"arch": "resnet20", "width": 4}
RESIDUAL_SAMPLES = 100  # test samples through the NumPy model (the untrained net's agreement is no accuracy)
RESIDUAL_LAVA_SAMPLES = 2


def _lava_check(path, first, n: int, fixed, progress: bool) -> dict:
    """Lava's simulator on ``first``, the first ``n`` samples, against the NumPy model's ``fixed`` results."""
    from neurokd.exporters.lava import simulate

    lava = simulate(path, first, backend="lava", record_spikes=True, progress=progress)
    equal = bool(np.array_equal(lava.v_out, fixed.v_out[:n])
                 and all(np.array_equal(a, b[:n]) for a, b in zip(lava.spikes, fixed.spikes)))
    return {"lava_spike_equal": equal, "lava_samples": n, "lava_steps_per_s": round(lava.steps_per_s, 2)}


def stage_lava(ctx: DemoContext) -> None:
    from neurokd.exporters.lava import compat, simulate, to_netx

    key = ctx.headline
    run = ctx.runs[key]
    model = run.model.eval()
    train, test = ctx.splits.train, ctx.splits.test
    x_train, _ = train.get_batch(torch.arange(len(train)))
    x_test, y_test = test.get_batch(torch.arange(len(test)))
    x, y = x_test.numpy(), y_test.numpy()
    path = ctx.out_dir / "lava" / "model.net"
    report = to_netx(model, path, calibration=x_train,
                     meta={"source": str(run.run_dir), "data": {"name": ctx.summary.get("dataset", "digits")}})
    with torch.no_grad():
        float_pred = model(x_test).argmax(1).numpy()
    fixed = simulate(path, x, backend="numpy", record_spikes=True)
    entry = {"path": str(path), "model": key, "float_acc": float((float_pred == y).mean()),
             "fixed_acc": fixed.accuracy(y), "agreement": float((fixed.predictions == float_pred).mean()),
             "numpy_steps_per_s": round(fixed.steps_per_s, 1),
             "scales": {q.name: round(q.scale, 3) for q in report.layers}}
    if compat.lava_available():
        n = min(LAVA_SAMPLES, len(y))
        first = x[:, :n] if x.ndim == len(model.spec.input_shape) + 2 else x[:n]  # event data: [T, N, ...]
        entry.update(_lava_check(path, first, n, fixed, ctx.progress))
    else:
        entry.update({"lava_spike_equal": None, "lava_samples": 0})
    ctx.summary["lava"] = entry
    ctx.rows.append([f"{key} (Loihi 2 fixed point)", "snn", "netx export, NumPy bit-accurate", ctx.T,
                     entry["fixed_acc"], "-"])


def stage_lava_residual(ctx: DemoContext) -> None:
    from neurokd.exporters.lava import compat, read_graph, simulate
    from neurokd.exporters.lava.export import to_lava
    from neurokd.exporters.nir.verify import calibrate_activity
    from neurokd.models import ModelSpec, build_model

    train, test = ctx.splits.train, ctx.splits.test
    x_train, _ = train.get_batch(torch.arange(len(train)))
    x_test, _ = test.get_batch(torch.arange(min(RESIDUAL_SAMPLES, len(test))))
    torch.manual_seed(ctx.seed)
    spec = ModelSpec(kind="snn", T=ctx.T, num_classes=ctx.splits.num_classes, input_shape=list(x_train.shape[1:]),
                     **RESIDUAL)
    model = calibrate_activity(build_model(spec), x_train[:256], seed=ctx.seed)
    path = ctx.out_dir / "lava" / "resnet20.lava"
    _report, form = to_lava(model, path, calibration=x_train, meta={"data": {"name": ctx.summary.get("dataset")}})
    graph = read_graph(path)
    x = x_test.numpy()
    fixed = simulate(path, x, backend="numpy", record_spikes=True)
    with torch.no_grad():
        float_pred = model(x_test).argmax(1).numpy()
    entry = {"path": str(path), "form": form, **RESIDUAL, "trained": False,
             "populations": len(graph.populations), "projections": len(graph.projections),
             "max_fan_in": max(len(graph.incoming(p.name)) for p in graph.populations),
             "delayed_projections": sum(pr.delay > 0 for pr in graph.projections), "latency": fixed.latency,
             "agreement_with_float": float((fixed.predictions == float_pred).mean()),
             "numpy_steps_per_s": round(fixed.steps_per_s, 1)}
    if compat.lava_available():
        entry.update(_lava_check(path, x[:RESIDUAL_LAVA_SAMPLES], RESIDUAL_LAVA_SAMPLES, fixed, ctx.progress))
    else:
        entry.update({"lava_spike_equal": None, "lava_samples": 0})
    ctx.summary["lava_residual"] = entry
    checked = {True: "NumPy = Lava spike for spike", False: "NumPy != Lava", None: "NumPy model (no Lava)"}
    ctx.rows.append([f"resnet20 w{RESIDUAL['width']}, untrained (Loihi 2 graph)", "snn",
                     f"residual .lava, {checked[entry['lava_spike_equal']]}", ctx.T, "-", "-"])
