"""Bit-accurate NumPy model of a netx network on Loihi 2's fixed-point CUBA neurons (no Lava needed).

It reproduces, integer for integer, what lava-dl's ``netx.hdf5.Network`` computes on
``Loihi2SimCfg(select_tag="fixed_pt")`` (lava-nc 0.10: ``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``,
``PyDenseModelBitAcc``, ``PyConvModelFixed``), in *physical* time, one Lava time step per loop iteration:

- Synapses: the activation a synapse sends at step ``p`` is the one it accumulated at ``p - 1`` (a one-step
  buffer), so every conv/dense layer adds one step of latency; the source's frame ``p`` reaches the first
  layer's neurons at step ``p + 1`` (time steps count from 1, the source sends ``data[p - 1]``).
  Dense: ``a = W @ s`` exactly (netx's ``optimize_weight_bits`` re-encodes the weights as an 8-bit mantissa
  and exponent losslessly). Conv: the output wraps to 24-bit signed (``signed_clamp``).
- Neurons (``x >> 12`` truncating toward zero, as ``sign(x) * (|x| >> 12)``)::

      u = wrap24(trunc((u * (4096 - du - 1)) / 4096) + (a << 6))        du = iDecay - 1 (ds_offset = 1)
      v = clip24(trunc((v * (4096 - dv)) / 4096) + u + (bias << 6))     dv = vDecay     (dm_offset = 0)
      s = v > (vThMant << 6);  v[s] = 0

  With ``reset_interval`` (``LIFReset``) layer ``i`` zeroes ``u`` and ``v`` before its update whenever
  ``p % reset_interval == (reset_offset + 1 + i) % reset_interval`` (netx's per-layer phase).

Products of integers are computed in float64 BLAS matmuls, which are exact here (every partial sum stays far
below 2**53), then converted back to int64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurokd.exporters.lava.netx import ConvLayer, DenseLayer, FlattenLayer, InputLayer, NetxNetwork

UV_MAX = 1 << 23  # u and v are 24-bit signed
SHIFT = 6  # activation, bias and threshold are MSB-aligned by 6 bits


@dataclass
class Trace:
    """Physical-time record of one run. ``spikes[i]``: ``[B, P, *shape_i]`` bool for synaptic layer ``i``;
    ``v_last``: the last layer's membrane ``[B, P, N]`` (int64, in ``<< 6`` units) after each step."""

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
    """Integer weights of one layer, prepared for batched exact products."""

    def __init__(self, la: ConvLayer | DenseLayer, in_shape: tuple[int, ...]):
        self.layer = la
        self.in_shape = in_shape
        self.w = la.weight.astype(np.float64)
        if isinstance(la, ConvLayer):
            self.out_shape = la.output_shape(in_shape)
            g = la.groups
            out_c, cin_g, kh, kw = la.weight.shape
            # per group: (out/g, cin/g * kh * kw), matching the im2col column order below
            self.wg = [self.w[k * (out_c // g):(k + 1) * (out_c // g)].reshape(out_c // g, cin_g * kh * kw)
                       for k in range(g)]
        else:
            self.out_shape = (la.weight.shape[0],)

    def __call__(self, s: np.ndarray) -> np.ndarray:
        """``s``: ``[B, *in_shape]`` (0/1 or graded ints) -> activation ``[B, *out_shape]`` int64."""
        la = self.layer
        b = s.shape[0]
        x = s.astype(np.float64)
        if isinstance(la, DenseLayer):
            return np.rint(x.reshape(b, -1) @ self.w.T).astype(np.int64)
        c, h, w = self.in_shape
        out_c, ho, wo = self.out_shape
        kh, kw = la.weight.shape[2:]
        (ph, pw), (sh, sw), (dh, dw) = la.padding, la.stride, la.dilation
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        cols = np.empty((b, c, kh, kw, ho, wo))
        for i in range(kh):
            for j in range(kw):
                cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
        g = la.groups
        cin_g = c // g
        outs = []
        for k in range(g):
            ck = cols[:, k * cin_g:(k + 1) * cin_g].reshape(b, cin_g * kh * kw, ho * wo)
            outs.append(self.wg[k] @ ck)
        a = np.rint(np.concatenate(outs, axis=1)).astype(np.int64).reshape(b, out_c, ho, wo)
        return signed_clamp24(a)


def _synapses(net: NetxNetwork) -> list[_Synapse]:
    shape = net.input_shape
    syns = []
    for la in net.layers:
        if isinstance(la, InputLayer | FlattenLayer):
            continue
        syn = _Synapse(la, shape)
        syns.append(syn)
        shape = syn.out_shape
    return syns


def _bias(la: ConvLayer | DenseLayer, shape: tuple[int, ...]) -> np.ndarray:
    if la.bias is None:
        return np.zeros(shape, np.int64)
    b = la.bias.astype(np.int64)
    return (b.reshape(-1, 1, 1) * np.ones(shape, np.int64)) if len(shape) == 3 else b


class FixedPointState:
    """The network's state between physical steps, advanced one Lava time step per :meth:`step` call.

    Holds every layer's ``u``, ``v`` (``[B, *shape]`` int64) and the synapse buffers. Layer resets come from
    ``reset_interval`` (netx's periodic per-layer phase, as in :func:`run`) and/or :meth:`schedule_reset`
    (a stream's resets at arbitrary times). ``readout_inc`` is the last layer's membrane change in the last
    step (after that step's reset): for the non-spiking readout, the step's contribution ``W s + b`` (``<< 6``).
    """

    def __init__(self, net: NetxNetwork, batch: int = 1, reset_interval: int | None = None, reset_offset: int = 0):
        self.syns = _synapses(net)
        self.reset_interval, self.reset_offset = reset_interval, reset_offset
        shapes = [s.out_shape for s in self.syns]
        self.u = [np.zeros((batch, *sh), np.int64) for sh in shapes]
        self.v = [np.zeros((batch, *sh), np.int64) for sh in shapes]
        self.buf = [np.zeros((batch, *sh), np.int64) for sh in shapes]
        self.s = [np.zeros((batch, *sh), bool) for sh in shapes]
        self.bias = [_bias(s.layer, s.out_shape) << SHIFT for s in self.syns]
        self.readout_inc = np.zeros((batch, int(np.prod(shapes[-1]))), np.int64)
        self.reset_at: list[int | None] = [None] * len(self.syns)
        self.p = 0  # physical steps taken

    @property
    def layers(self) -> int:
        return len(self.syns)

    def copy(self) -> FixedPointState:
        """An independent copy (synapse weights shared, state arrays copied)."""
        c = object.__new__(FixedPointState)
        c.__dict__.update(self.__dict__)
        for k in ("u", "v", "buf", "s"):
            setattr(c, k, [a.copy() for a in getattr(self, k)])
        c.readout_inc, c.reset_at = self.readout_inc.copy(), list(self.reset_at)
        return c

    def schedule_reset(self) -> None:
        """Start a fresh sample with the next input frame: layer ``i`` is zeroed when that frame reaches it,
        ``2 + i`` steps from now (Lava's per-layer reset phase), so earlier frames finish their way out first."""
        self.reset_at = [self.p + 2 + i for i in range(self.layers)]

    def _resets(self, i: int, p: int) -> bool:
        if self.reset_at[i] == p:
            self.reset_at[i] = None
            return True
        ri = self.reset_interval
        return ri is not None and p % ri == (self.reset_offset + 1 + i) % ri

    def step(self, frame: np.ndarray | None, first: int = 0) -> None:
        """One physical step with the source sending ``frame`` ``[B, *input_shape]`` (ints).

        ``first > 0`` updates only layers ``>= first`` (and ``frame`` may be None): enough to drain a pipeline,
        where the readout ``k`` steps ahead depends only on layers ``>= k - 1``.
        """
        self.p += 1
        p, n = self.p, self.layers
        for i in range(first, n):
            syn = self.syns[i]
            neuron = syn.layer.neuron
            if self._resets(i, p):
                self.u[i][:] = 0
                self.v[i][:] = 0
            # netx passes du = iDecay - 1 and Lava adds ds_offset = 1: the effective decay is iDecay
            self.u[i] = wrap24(trunc_shift(self.u[i] * (4096 - neuron.i_decay), 12) + (self.buf[i] << SHIFT))
            before = self.v[i]
            vi = trunc_shift(before * (4096 - neuron.v_decay), 12) + self.u[i] + self.bias[i]
            vi = np.clip(vi, -UV_MAX + 1, UV_MAX - 1)
            s = vi > (neuron.v_th_mant << SHIFT)
            vi[s] = 0
            if i == n - 1:
                self.readout_inc = (vi - before).reshape(vi.shape[0], -1)
            self.v[i] = vi
            self.s[i] = s
        # synapses buffer this step's input for the next step (the one-step latency)
        if first == 0 and frame is not None:
            self.buf[0] = self.syns[0](frame)
        for i in range(max(1, first + 1), n):
            self.buf[i] = self.syns[i](self.s[i - 1])


def run(net: NetxNetwork, stream: np.ndarray, reset_interval: int | None = None, reset_offset: int = 0) -> Trace:
    """Run ``net`` on ``stream`` ``[B, P, *input_shape]`` (integer frames, the source's data at steps 1..P).

    Returns every layer's spikes and the last layer's membrane at each of the ``P`` physical steps, exactly as
    Lava's fixed-point simulator would for each batch element run on its own from a fresh state.
    """
    bsz, steps = stream.shape[:2]
    state = FixedPointState(net, bsz, reset_interval, reset_offset)
    spikes = [np.zeros((bsz, steps, *s.out_shape), bool) for s in state.syns]
    v_last = np.zeros((bsz, steps, int(np.prod(state.syns[-1].out_shape))), np.int64)
    for p in range(steps):
        state.step(stream[:, p])
        for i, s in enumerate(state.s):
            spikes[i][:, p] = s
        v_last[:, p] = state.v[-1].reshape(bsz, -1)
    return Trace(spikes, v_last)
