"""The ``loihi-fixed`` stream backend: the exported Loihi 2 fixed-point network, run window by window.

It runs the bit-accurate NumPy model (:class:`~neurokd.exporters.lava.numpy_sim.FixedPointState`) of the exported
network (a netx chain or a residual graph), one Lava time step per SNN step, keeping every layer's state across
windows as the chip would. The application's stream-backend registry names it ``loihi-fixed``.

Latency. On Loihi each synapse layer adds one step: the readout for input frame ``k`` is ready ``L`` steps later
(``L``: the readout's depth, one per conv/dense layer of a chain). A window's ``step`` feeds its ``S`` frames into the real state, then runs ``L``
more steps on a *copy* of it with no input (only the layers that still matter) to read the readout of its own
frames; the real state goes on with the next window's frames. Since the readout of frame ``k`` depends on
frames ``<= k`` only, the logits of every frame are exactly those of an uninterrupted run, and the stream's
per-window predictions are aligned with the float backend's instead of lagging ``L`` windows behind.

Resets follow netx's per-layer phase: ``reset()`` zeroes a layer when the next frame reaches it (``1 + depth``
steps on), so a segment between resets gives exactly what :func:`~neurokd.exporters.lava.simulation.simulate` gives
for that segment alone. Per-step logits are the readout membrane's increments decoded to float units
(``/ (64 * readout_scale)``); their sum over a segment is the readout ``simulate`` decodes (times ``T``). The
readout membrane integrates from reset to reset: its range is sized for ``T`` steps (the export's), so reset
at least every ``T`` steps (``neurokd stream --reset-every``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neurokd.errors import UserError
from neurokd.exporters.lava.export import quantize_lava
from neurokd.exporters.lava.files import read_lava
from neurokd.exporters.lava.graph import LavaGraph
from neurokd.exporters.lava.netx import NetxNetwork
from neurokd.exporters.lava.numpy_sim import SHIFT, FixedPointState, as_graph
from neurokd.exporters.lava.simulation import _meta, quantize_input


class LoihiFixedBackend:
    """Stream backend over an exported network: ``model`` is a neurokd SNN (quantized here, which needs the input
    range: ``calibration`` frames ``[N, P, H, W]`` or ``input_max``; residual models as a graph), a
    :class:`NetxNetwork` or :class:`LavaGraph`, or a ``.net`` / ``.lava`` path.
    ``threads``: BLAS threads for the process (as the torch backend sets torch's): the per-step products are
    small, and two BLAS threads on a loaded 2-core machine ran 15x slower than one (measured here)."""

    name = "loihi-fixed"

    def __init__(self, model, threads: int | None = None, calibration=None, input_max: float | None = None,
                 seed: int = 0):
        if threads:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads, user_api="blas")
        if isinstance(model, str | Path):
            net = read_lava(model)
            source = Path(model)
        elif isinstance(model, NetxNetwork | LavaGraph):
            net, source = model, Path("<network>")
        else:
            if not getattr(model, "is_snn", False):
                raise UserError("streaming needs a spiking model (kind: snn); this model is an ANN")
            net = quantize_lava(model.cpu().eval(), calibration, input_max)[0]
            source = Path("<model>")
        self.meta = _meta(net, source)
        shape = tuple(int(s) for s in self.meta["model_input_shape"])
        if len(shape) != 3:
            raise UserError(f"streaming needs an image model (input [P, H, W]), this one takes {list(shape)}")
        self.net = as_graph(net)
        self.input_shape = shape  # type: ignore[assignment]
        self.num_classes = self.net.readout.size
        self.T = int(self.meta["T"])
        self.decode = float(1 << SHIFT) * float(self.meta["readout_scale"])
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.state = FixedPointState(self.net, 1)
        self.state.schedule_reset()

    def step(self, frames: np.ndarray) -> np.ndarray:
        """``frames`` ``[S, P, H, W]`` (event counts) -> per-step logits ``[S, K]`` (float units)."""
        S = frames.shape[0]
        x = quantize_input(self.meta, np.asarray(frames, dtype=np.float64), self.rng)
        x = x.reshape(S, 1, *self.net.input_shape)
        L = self.state.latency
        inc = np.empty((S + L, self.num_classes), np.int64)
        for k in range(S):
            self.state.step(x[k])
            inc[k] = self.state.readout_inc[0]
        drain = self.state.copy()
        for d in range(L):
            drain.step(None, first=d)
            inc[S + d] = drain.readout_inc[0]
        # the readout of frame k arrives L steps after it is sent
        return inc[L:L + S] / self.decode

