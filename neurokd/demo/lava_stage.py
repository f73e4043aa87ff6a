"""Demo stage: export the headline student to Loihi 2 (netx), check it bit-accurately, run a few on Lava.

Adds ``lava: {"path", "float_acc", "fixed_acc", "lava_spike_equal", ...}`` to the demo summary:
``float_acc`` is the float SNN on the test split, ``fixed_acc`` the exported fixed-point network on the same
split (bit-accurate NumPy model), and ``lava_spike_equal`` whether Lava's simulator (lava-dl netx on
``Loihi2SimCfg(select_tag="fixed_pt")``) reproduced the NumPy model spike for spike, in every layer, and the
readout membranes exactly, on the first :data:`LAVA_SAMPLES` test samples (Lava runs a few steps per second).
"""

from __future__ import annotations

import numpy as np
import torch

from neurokd.demo.context import DemoContext

LAVA_SAMPLES = 8


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
        lava = simulate(path, first, backend="lava", record_spikes=True, progress=ctx.progress)
        equal = bool(np.array_equal(lava.v_out, fixed.v_out[:n])
                     and all(np.array_equal(a, b[:n]) for a, b in zip(lava.spikes, fixed.spikes)))
        entry.update({"lava_spike_equal": equal, "lava_samples": n, "lava_steps_per_s": round(lava.steps_per_s, 2)})
    else:
        entry.update({"lava_spike_equal": None, "lava_samples": 0})
    ctx.summary["lava"] = entry
    ctx.rows.append([f"{key} (Loihi 2 fixed point)", "snn", "netx export, NumPy bit-accurate", ctx.T,
                     entry["fixed_acc"], "-"])
