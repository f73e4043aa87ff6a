"""Bit-accurate NumPy model of a Loihi 2 fixed-point network of CUBA neurons (no Lava needed): a netx chain
(``.net``) or a residual graph (:class:`~neurokd.exporters.lava.graph.LavaGraph`, ``.lava``).

It reproduces, integer for integer, what Lava computes on ``Loihi2SimCfg(select_tag="fixed_pt")`` (lava-nc
0.10: ``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``, ``PyDenseModelBitAcc``, ``PyConvModelFixed``,
``PyDelaySparseModelBitAcc``) for lava-dl's ``netx.hdf5.Network`` and for the process network
:mod:`~neurokd.exporters.lava.graph_processes` builds, in *physical* time, one Lava time step per iteration:

- Synapses: the activation a projection sends at step ``p`` is the one it accumulated at ``p - 1 - delay``
  (a one-step buffer, plus the synaptic delay), so every projection adds ``1 + delay`` steps of latency; the
  source's frame ``p`` reaches the first layer's neurons at step ``p + 1`` (time steps count from 1, the source
  sends ``data[p - 1]``). A population's input is the sum of its projections' activations (Lava adds all
  connections into an ``InPort``). Dense / delayed: ``a = (W << exp) @ s`` exactly (``optimize_weight_bits``
  re-encodes the weights as an 8-bit mantissa and exponent losslessly). Conv: the output wraps to 24-bit signed
  (``signed_clamp``).
- Neurons (``x >> 12`` truncating toward zero, as ``sign(x) * (|x| >> 12)``)::

      u = wrap24(trunc((u * (4096 - du - 1)) / 4096) + (a << 6))        du = iDecay - 1 (ds_offset = 1)
      v = clip24(trunc((v * (4096 - dv)) / 4096) + u + (bias << 6))     dv = vDecay     (dm_offset = 0)
      s = v > (vThMant << 6);  v[s] = 0

  With ``reset_interval`` (``LIFReset``) a population at depth ``d`` (layer ``i`` of a chain: ``d = 1 + i``)
  zeroes ``u`` and ``v`` before its update whenever ``p % reset_interval == (reset_offset + d) % reset_interval``
  (netx's per-layer phase).

Products of integers are computed in float64 BLAS matmuls, which are exact here (every partial sum stays far
below 2**53), then converted back to int64.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from neurokd.exporters.lava.graph import INPUT, LavaGraph, Projection, graph_of_netx
from neurokd.exporters.lava.netx import NetxNetwork

UV_MAX = 1 << 23  # u and v are 24-bit signed
SHIFT = 6  # activation, bias and threshold are MSB-aligned by 6 bits


@dataclass
class Trace:
    """Physical-time record of one run. ``spikes[i]``: ``[B, P, *shape_i]`` bool for population (netx: conv/dense
    layer) ``i``; ``v_last``: the readout's membrane ``[B, P, N]`` (int64, in ``<< 6`` units) after each step."""

    spikes: list[np.ndarray]
    v_last: np.ndarray
    timing: dict[str, float] = field(default_factory=dict)  # seconds, where the backend measures them


def trunc_shift(x: np.ndarray, bits: int) -> np.ndarray:
    """``sign(x) * (|x| >> bits)``: Loihi's decay truncation (toward zero)."""
    return np.sign(x) * (np.abs(x) >> bits)


def wrap24(x: np.ndarray) -> np.ndarray:
    """Lava's current wrap-around, reproduced literally (``PyLifModelBitAcc.subthr_dynamics``)."""
    w = np.where(x > UV_MAX, x - 2 * UV_MAX, x)
    return np.where(w <= -UV_MAX, x + 2 * UV_MAX, w)


def signed_clamp24(x: np.ndarray) -> np.ndarray:
    """``lava.proc.conv.utils.signed_clamp(x, 24)``: modular wrap to 24-bit signed."""
    base = 1 << 24
    return (x + base // 2) % base - base // 2


class _Synapse:
    """Integer weights of one projection, prepared for batched exact products."""

    def __init__(self, pr: Projection, in_shape: tuple[int, ...]):
        self.proj = pr
        self.in_shape = in_shape
        self.out_shape = pr.output_shape(in_shape)
        self.w = pr.effective_weight.astype(np.float64)
        # Lava's Conv process wraps its output to 24 bits; Dense and DelaySparse (delayed projections) do not
        self.clamp = pr.kind == "conv" and pr.delay == 0
        if pr.kind == "conv":
            g = pr.groups
            out_c, cin_g, kh, kw = pr.weight.shape
            # per group: (out/g, cin/g * kh * kw), matching the im2col column order below
            self.wg = [self.w[k * (out_c // g):(k + 1) * (out_c // g)].reshape(out_c // g, cin_g * kh * kw)
                       for k in range(g)]

    def __call__(self, s: np.ndarray) -> np.ndarray:
        """``s``: ``[B, *in_shape]`` (0/1 or graded ints) -> activation ``[B, *out_shape]`` int64."""
        pr = self.proj
        b = s.shape[0]
        x = s.astype(np.float64)
        if pr.kind == "dense":
            return np.rint(x.reshape(b, -1) @ self.w.T).astype(np.int64)
        c, h, w = self.in_shape
        out_c, ho, wo = self.out_shape
        kh, kw = pr.weight.shape[2:]
        (ph, pw), (sh, sw), (dh, dw) = pr.padding, pr.stride, pr.dilation
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        cols = np.empty((b, c, kh, kw, ho, wo))
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
        g = pr.groups
        cin_g = c // g
        outs = []
        for k in range(g):
            ck = cols[:, k * cin_g:(k + 1) * cin_g].reshape(b, cin_g * kh * kw, ho * wo)
            outs.append(self.wg[k] @ ck)
        a = np.rint(np.concatenate(outs, axis=1)).astype(np.int64).reshape(b, out_c, ho, wo)
        return signed_clamp24(a) if self.clamp else a


def as_graph(net: NetxNetwork | LavaGraph) -> LavaGraph:
    """The graph form the model runs (a netx chain becomes a chain graph, numerically the same)."""
    return net if isinstance(net, LavaGraph) else graph_of_netx(net)


class FixedPointState:
    """The network's state between physical steps, advanced one Lava time step per :meth:`step` call.

    ``net``: a :class:`LavaGraph` or a netx chain. Holds every population's ``u``, ``v``, spikes
    (``[B, *shape]`` int64/bool) and every projection's in-flight activations (``1 + delay`` steps). Resets come
    from ``reset_interval`` (netx's periodic per-layer phase, as in :func:`run`) and/or :meth:`schedule_reset`
    (a stream's resets at arbitrary times). ``readout_inc`` is the readout membrane's change in the last step
    (after that step's reset): for the non-spiking readout, the step's contribution ``W s + b`` (``<< 6``).
    """

    def __init__(self, net: NetxNetwork | LavaGraph, batch: int = 1, reset_interval: int | None = None,
                 reset_offset: int = 0):
        g = as_graph(net)
        self.graph = g
        self.depth = g.depths()
        pos = g.index()
        self.syns = [_Synapse(pr, g.source_shape(pr.source)) for pr in g.projections]
        self.src = [-1 if pr.source == INPUT else pos[pr.source] for pr in g.projections]
        self.dst = [pos[pr.target] for pr in g.projections]
        self.reset_interval, self.reset_offset = reset_interval, reset_offset
        shapes = [tuple(p.shape) for p in g.populations]
        self.u = [np.zeros((batch, *sh), np.int64) for sh in shapes]
        self.v = [np.zeros((batch, *sh), np.int64) for sh in shapes]
        self.s = [np.zeros((batch, *sh), bool) for sh in shapes]
        self.zeros = [np.zeros((batch, *shapes[d]), np.int64) for d in self.dst]  # never written to
        self.pipe = [deque([z] * (1 + pr.delay)) for z, pr in zip(self.zeros, g.projections)]
        self.bias = [p.bias_array() << SHIFT for p in g.populations]
        self.readout_inc = np.zeros((batch, int(np.prod(shapes[-1]))), np.int64)
        self.reset_at: list[int | None] = [None] * len(shapes)
        self.p = 0  # physical steps taken

    @property
    def layers(self) -> int:
        """Number of populations (a netx chain: its conv/dense layers)."""
        return len(self.u)

    @property
    def latency(self) -> int:
        """Steps from an input frame to the readout."""
        return self.depth[-1]

    def copy(self) -> FixedPointState:
        """An independent copy (weights shared, state copied; in-flight arrays are never written in place)."""
        c = object.__new__(FixedPointState)
        c.__dict__.update(self.__dict__)
        for k in ("u", "v", "s"):
            setattr(c, k, [a.copy() for a in getattr(self, k)])
        c.pipe = [deque(q) for q in self.pipe]
        c.readout_inc, c.reset_at = self.readout_inc.copy(), list(self.reset_at)
        return c

    def schedule_reset(self) -> None:
        """Start a fresh sample with the next input frame: a population at depth ``d`` is zeroed when that frame
        reaches it, ``1 + d`` steps from now (Lava's per-layer reset phase), so earlier frames finish first."""
        self.reset_at = [self.p + 1 + d for d in self.depth]

    def _resets(self, i: int, p: int) -> bool:
        if self.reset_at[i] == p:
            self.reset_at[i] = None
            return True
        ri = self.reset_interval
        return ri is not None and p % ri == (self.reset_offset + self.depth[i]) % ri

    def _update(self, i: int, a_in: np.ndarray | None, p: int) -> None:
        neuron = self.graph.populations[i].neuron
        if self._resets(i, p):
            self.u[i][:] = 0
            self.v[i][:] = 0
        # netx/Lava pass du = iDecay - 1 and Lava adds ds_offset = 1: the effective decay is iDecay
        u = trunc_shift(self.u[i] * (4096 - neuron.i_decay), 12)
        self.u[i] = wrap24(u + (a_in << SHIFT) if a_in is not None else u)
        before = self.v[i]
        vi = trunc_shift(before * (4096 - neuron.v_decay), 12) + self.u[i] + self.bias[i]
        vi = np.clip(vi, -UV_MAX + 1, UV_MAX - 1)
        s = vi > (neuron.v_th_mant << SHIFT)
        vi[s] = 0
        if i == len(self.u) - 1:
            self.readout_inc = (vi - before).reshape(vi.shape[0], -1)
        self.v[i] = vi
        self.s[i] = s

    def step(self, frame: np.ndarray | None, first: int = 0) -> None:
        """One physical step with the source sending ``frame`` ``[B, *input_shape]`` (ints).

        ``first > 0`` updates only populations deeper than ``first`` (and ``frame`` may be None): enough to drain
        a pipeline, where the readout ``k`` steps ahead depends only on populations of depth ``> k - 1``.
        """
        self.p += 1
        a_in: list[np.ndarray | None] = [None] * len(self.u)
        for j, d in enumerate(self.dst):
            head = self.pipe[j].popleft()
            a_in[d] = head if a_in[d] is None else a_in[d] + head
        for i, d in enumerate(self.depth):
            if d > first:
                self._update(i, a_in[i], self.p)
        # synapses take this step's spikes; they arrive 1 + delay steps later
        for j, src in enumerate(self.src):
            if src < 0:
                value = self.syns[j](frame) if (first == 0 and frame is not None) else self.zeros[j]
            else:
                value = self.syns[j](self.s[src]) if self.depth[src] > first else self.zeros[j]
            self.pipe[j].append(value)


def run(net: NetxNetwork | LavaGraph, stream: np.ndarray, reset_interval: int | None = None,
        reset_offset: int = 0) -> Trace:
    """Run ``net`` on ``stream`` ``[B, P, *input_shape]`` (integer frames, the source's data at steps 1..P).

    Returns every population's spikes and the readout membrane at each of the ``P`` physical steps, exactly as
    Lava's fixed-point simulator would for each batch element run on its own from a fresh state.
    """
    bsz, steps = stream.shape[:2]
    state = FixedPointState(net, bsz, reset_interval, reset_offset)
    spikes = [np.zeros((bsz, steps, *s.shape[1:]), bool) for s in state.s]
    v_last = np.zeros((bsz, steps, state.readout_inc.shape[1]), np.int64)
    for p in range(steps):
        state.step(stream[:, p])
        for i, s in enumerate(state.s):
            spikes[i][:, p] = s
        v_last[:, p] = state.v[-1].reshape(bsz, -1)
    return Trace(spikes, v_last)
