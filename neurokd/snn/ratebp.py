"""Rate-based backpropagation (rate-BP; Yu et al., NeurIPS 2024, seed 000's training method).

One training forward is two passes over a neurokd SNN twin:

1. **Spike pass** (``torch.no_grad``, over all T steps, in chunks of ``chunk`` steps): the normal SNN forward,
   spike for spike, while every LIF/IF neuron accumulates its firing rate ``r = mean_t s[t]`` and eligibility
   ``kappa = mean_t sg[t] e[t]`` (:class:`neurokd.snn.functional.RateTrace`; ``kappa`` is d r / d mean-input
   under BPTT with the same surrogate, for either reset mode, detached or not; IF is beta = 1). Neurons carry
   their membrane and eligibility from one chunk to the next, so the graph-free pass holds one chunk's
   activations at a time whatever T is. A chunk whose activations would be large (the model's ``time_chunk``,
   automatic by default: :mod:`neurokd.snn.chunked`) runs layer by layer in smaller time chunks, with its
   BatchNorm statistics still over the whole chunk.
2. **Rate pass** (with autograd, once): the stateless layers run once on the time-mean of the encoded input
   ``[B, ...]``; each neuron returns its measured rate as value and ``kappa * grad`` as gradient
   (``r.detach() + kappa c - (kappa c).detach()``); a learnable decay gets ``kappa_beta * grad`` the same way.
   Because every stateless layer of the zoo after the last neurons is affine (linear, average pooling, flatten,
   residual add), the rate-pass logits *equal* the time-mean logits of the spike pass; tap outputs equal the
   time-mean of the tapped module's spike-pass output when the layers between the neurons feeding it and the
   tap are affine (all stage outputs of the zoo; not a ``MaxPool`` stem).

Graph memory and backward time are those of a single-step network: they do not grow with T.

BatchNorm (modules that normalise with batch statistics, i.e. in training mode):

- spike pass: each chunk is normalised with its own batch statistics over ``chunk * B`` samples, like the BPTT
  forward over ``T * B`` samples when ``T <= chunk`` (then the spike pass *is* the BPTT forward: bit for bit when
  the chunk runs folded, to float rounding of the statistics when it runs in smaller time chunks);
  with more steps it is a "ghost" BatchNorm over time chunks. The exact mean and (biased) variance over all
  ``T * B`` samples are accumulated across chunks, and the running statistics are updated *once* per call with
  them (unbiased variance), as one BPTT forward does.
- rate pass: normalises with those spike-pass statistics as values, while the gradient flows as if the
  statistics were the rate input's own batch statistics (straight-through on mean and variance, as the
  reference code does); running statistics are not touched.
In eval mode BatchNorm is affine (running statistics) in both passes.

Gradient scale: no ``1/T`` factor. The reference code divides the rate-pass gradient by T; here the rate-pass
gradients estimate the BPTT gradients of the *same* loss on the time-mean logits at the same scale (the last
linear layer's gradient is identical to BPTT's; see ``benchmarks/ratebp_gradients.py``), so an optimizer's
learning rate means the same under ``--train.backprop bptt`` and ``rate``. (AdamW is scale-invariant anyway; for
SGD, the reference's ``lr`` corresponds to ``lr / T`` here.)

Usage::

    logits, feats = rate_forward(model, x, taps=["stage2"])   # model.train(); x as for model(x)
    loss = F.cross_entropy(logits, y) + ...;  loss.backward()
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from neurokd.snn.batch_stats import (
    PooledMoments,
    global_batch_stats,
    normalize,
    update_running_stats,
    uses_batch_stats,
)
from neurokd.snn.chunked import ChunkPlan, chunk_moments, normalize_chunks, plan, run_chunks
from neurokd.snn.folding import chunk_sizes, unfold
from neurokd.snn.functional import RateTrace, lif_rate_trace
from neurokd.snn.neurons import LIF

if TYPE_CHECKING:
    from neurokd.models.base import TwinNet

DEFAULT_CHUNK = 4
"""Time steps per spike-pass chunk: T <= 4 (the usual training T) runs as one exact BPTT-equal forward."""

_BN = nn.modules.batchnorm._BatchNorm


class _RateSTE(torch.autograd.Function):
    """Forward: the measured rate ``r``; backward: ``kappa * grad`` to the input current (and
    ``sum(kappa_beta * grad)`` to a learnable decay)."""

    @staticmethod
    def forward(ctx, c, beta, r, kappa, kappa_beta):  # type: ignore[override]
        ctx.save_for_backward(kappa, kappa_beta)
        ctx.beta_shape = beta.shape if isinstance(beta, Tensor) else None
        # returned as is, autograd hands out a view of r: no copy of the rates (r is never modified afterwards)
        return r if r.dtype == c.dtype else r.to(c.dtype)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        kappa, kappa_beta = ctx.saved_tensors
        gc = (g * kappa).to(g.dtype) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            gb = (g.float() * kappa_beta).sum().reshape(ctx.beta_shape)
        return gc, gb, None, None, None


class _RateBN(torch.autograd.Function):
    """Rate-pass BatchNorm: ``y = (c - mean_s) / sqrt(var_s + eps) * w + b`` with the spike pass's statistics as
    values, and the gradient of ``y`` as if ``mean``/``var`` were ``c``'s own batch statistics (straight-through,
    the reference code's ``mean_s + mean_c - mean_c.detach()``), in one fused backward:

        dL/dc = w inv (g - mean(g)) - w inv^3 (c - mean_c) mean(g (c - mean_s))     (means per channel)
        dL/dw = inv sum(g (c - mean_s)),   dL/db = sum(g)
    """

    @staticmethod
    def forward(ctx, c, weight, bias, mean_s, var_s, eps, reduce=None):  # type: ignore[override]
        dims = [0, *range(2, c.ndim)]
        shape = [1, -1] + [1] * (c.ndim - 2)
        inv = torch.rsqrt(var_s + eps)
        scale = inv if weight is None else inv * weight
        shift = -mean_s * scale if bias is None else bias - mean_s * scale
        n = c.numel() // c.shape[1]
        if reduce is None:
            mean_c = c.mean(dims)
        else:  # the batch spans processes (train.sync_bn): means over the global batch
            n = int(reduce(torch.tensor([float(n)], dtype=torch.float64, device=c.device)).item())
            mean_c = reduce(c.sum(dims)) / n
        ctx.save_for_backward(c, weight, inv, mean_s, mean_c)
        ctx.dims, ctx.shape, ctx.n, ctx.reduce = dims, shape, n, reduce
        return torch.addcmul(shift.view(shape), c, scale.view(shape))

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        c, weight, inv, mean_s, mean_c = ctx.saved_tensors
        dims, shape, n, reduce = ctx.dims, ctx.shape, ctx.n, ctx.reduce
        sum_g_local = g.sum(dims)
        sum_gx_local = (g * c).sum(dims) - mean_s * sum_g_local  # sum g (c - mean_s)
        # the input gradient needs sums over the whole (global) batch; the parameter gradients stay local
        # because DDP averages them over processes afterwards
        sum_g = sum_g_local if reduce is None else reduce(sum_g_local)
        sum_gx = sum_gx_local if reduce is None else reduce(sum_gx_local)
        w = 1.0 if weight is None else weight
        a = w * inv
        b = -(w * inv.pow(3)) * (sum_gx / n)
        d = -a * (sum_g / n) - b * mean_c
        gc = torch.addcmul(d.view(shape), g, a.view(shape)).addcmul_(c, b.view(shape))
        gw = inv * sum_gx_local if weight is not None and ctx.needs_input_grad[1] else None
        gb = sum_g_local if ctx.needs_input_grad[2] else None
        return gc, gw, gb, None, None, None, None


def _reducer(bn: nn.Module) -> Callable[[Tensor], Tensor] | None:
    """A synchronized BatchNorm's sum over processes (``train.sync_bn`` under torchrun), else None."""
    get = getattr(bn, "batch_stat_reducer", None)
    return get() if callable(get) else None


def _override(module: nn.Module, fn) -> None:
    """Route ``module(x)`` to ``fn(x)`` (an instance attribute shadows the class's ``forward``)."""
    module.__dict__["forward"] = fn


def _override_chunks(module: nn.Module, forward_chunks) -> None:
    """Route ``module(x)`` and the chunked runner's whole-list call (``forward_chunks``) to ``forward_chunks``."""
    _override(module, lambda x: forward_chunks([x])[0])
    module.__dict__["forward_chunks"] = forward_chunks


def _restore(module: nn.Module) -> None:
    module.__dict__.pop("forward", None)
    module.__dict__.pop("forward_chunks", None)


class _Passes:
    """Per-call state of one :func:`rate_forward`: neuron traces and BatchNorm statistics, keyed by module and
    by call index within one network forward (a module called twice per forward gets two entries)."""

    def __init__(self, model: nn.Module):
        self.neurons = [m for m in model.modules() if isinstance(m, LIF)]
        self.bns = [m for m in model.modules() if isinstance(m, _BN) and uses_batch_stats(m)]
        self.traces: dict[tuple[int, int], RateTrace] = {}
        self.stats: dict[tuple[int, int], PooledMoments] = {}
        self.rates: dict[tuple[int, int], tuple[Tensor, Tensor, Tensor | None]] = {}
        self.calls: dict[int, int] = {}
        self.batch = 1

    def _key(self, module: nn.Module) -> tuple[int, int]:
        i = self.calls.get(id(module), 0)
        self.calls[id(module)] = i + 1
        return id(module), i

    def new_forward(self) -> None:
        self.calls.clear()

    # ---- spike pass: each module gets ``forward`` (one chunk) and ``forward_chunks`` (consecutive time chunks)
    def spike_neuron(self, m: LIF):
        def forward_chunks(xs: list[Tensor]) -> list[Tensor]:
            key = self._key(m)
            trace = self.traces.get(key)
            out = []
            for x in xs:
                seq = x if m.T is None else x.reshape(x.shape[0] // self.batch, self.batch, *x.shape[1:])
                if trace is None:
                    trace = self.traces[key] = RateTrace(m.learn_beta, m.initial_membrane(seq[0]))
                s = lif_rate_trace(seq, trace, m.beta, m.threshold, m.reset, m.surrogate, m.detach_reset)
                out.append(s.reshape(x.shape))
            return out

        return forward_chunks

    def spike_bn(self, bn: nn.Module):
        reduce = _reducer(bn)

        def forward_chunks(xs: list[Tensor]) -> list[Tensor]:
            stats = self.stats.setdefault(self._key(bn), PooledMoments())
            if reduce is not None:
                pooled = PooledMoments()
                for x in xs:
                    mean, var, n = global_batch_stats(x, reduce, torch.float64)
                    pooled.add(mean, var, int(n.item()))
                stats.add(pooled.mean, pooled.var, pooled.n)
                return [normalize(x, pooled.mean, pooled.var, bn) for x in xs]
            if len(xs) == 1:
                # the op F.batch_norm runs in training mode, which also hands back the batch mean and 1/std
                x = xs[0]
                y, mean, invstd = torch.native_batch_norm(x, bn.weight, bn.bias, None, None, True, 0.0, bn.eps)
                var = invstd.double().pow(-2).sub_(bn.eps).clamp_min_(0.0)
                stats.add(mean.double(), var, x.numel() // x.shape[1])
                return [y]
            pooled = chunk_moments(xs)
            stats.add(pooled.mean, pooled.var, pooled.n)
            return normalize_chunks(bn, xs, pooled)

        return forward_chunks

    # ---- rate pass
    def rate_neuron(self, m: LIF):
        def forward(c: Tensor) -> Tensor:
            r, kappa, kappa_beta = self.rates[self._key(m)]
            if kappa_beta is None:
                return _RateSTE.apply(c, None, r, kappa, None)
            return _RateSTE.apply(c, m.beta, r, kappa, kappa_beta)

        return forward

    def rate_bn(self, bn: nn.Module):
        def forward(c: Tensor) -> Tensor:
            st = self.stats[self._key(bn)]
            dtype = c.dtype
            if dtype in (torch.float16, torch.bfloat16):
                c = c.float()  # batch statistics of a half-precision rate input are too coarse
            w = None if bn.weight is None else bn.weight.to(c.dtype)
            b = None if bn.bias is None else bn.bias.to(c.dtype)
            y = _RateBN.apply(c, w, b, st.mean.to(c.dtype), st.var.to(c.dtype), bn.eps, _reducer(bn))
            return y.to(dtype)

        return forward

    @contextlib.contextmanager
    def mode(self, which: str) -> Iterator[None]:
        try:
            for m in self.neurons:
                if which == "spike":
                    _override_chunks(m, self.spike_neuron(m))
                else:
                    _override(m, self.rate_neuron(m))
            for bn in self.bns:
                if which == "spike":
                    _override_chunks(bn, self.spike_bn(bn))
                else:
                    _override(bn, self.rate_bn(bn))
            yield
        finally:
            for m in self.neurons + self.bns:
                _restore(m)


def rate_forward(
    model: TwinNet, x: Tensor, taps: Sequence[str] = (), *, chunk: int | None = None
) -> tuple[Tensor, dict[str, Tensor]]:
    """Rate-BP forward of an SNN twin: ``(logits [B, K], {tap: rate-pass output [B, ...]})``.

    ``x`` is the model's normal input (static ``[B, ...]`` or a sequence ``[T, B, ...]``). Logits equal the
    model's time-mean logits ``model(x)`` in value (exactly the BPTT forward when ``T <= chunk``); their graph
    is the rate pass's, which does not grow with T. ``taps`` are module names from ``model.named_modules()``;
    their hooks run in the rate pass only. ``chunk`` is the number of time steps per spike-pass chunk
    (default :data:`DEFAULT_CHUNK`; ``None`` keeps the default, ``chunk >= T`` runs all steps at once).
    Neuron state, BatchNorm modules and hooks are as before afterwards (BatchNorm running statistics are
    updated once in training mode, as by a normal forward).
    """
    if not getattr(model, "is_snn", False):
        raise TypeError("rate_forward needs an SNN twin (model.kind snn)")
    chunk = DEFAULT_CHUNK if chunk is None else int(chunk)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 time step, got {chunk}")
    modules = dict(model.named_modules())
    missing = [t for t in taps if t not in modules or not t]
    if missing:
        raise ValueError(f"rate_forward: the model has no module {missing[0]!r} to tap")
    T = model.T
    passes = _Passes(model)

    sizes = chunk_sizes(T, chunk)
    chunks = model.input_chunks(x, sizes)
    sequence = model.is_sequence(x)
    # the direct encoder repeats x: the time mean is x itself
    x_mean = x if not sequence and model.spec.encoder == "direct" else unfold(torch.cat(chunks), T).mean(0)
    passes.batch = B = x.shape[1] if sequence else x.shape[0]
    sample_shape = tuple(x.shape[2:] if sequence else x.shape[1:])
    with torch.no_grad(), passes.mode("spike"):
        for xc, tc in zip(chunks, sizes):
            passes.new_forward()
            # within a chunk, smaller time chunks layer by layer: BatchNorm statistics still span the whole chunk
            sub = plan(model, tc, B, sample_shape, model.time_chunk)
            if sub is None:
                model.forward_body(xc)
            else:
                run_chunks(model, ChunkPlan(sub.sizes, True), list(xc.split([n * B for n in sub.sizes])), B)
    del chunks
    if passes.traces and next(iter(passes.traces.values())).steps != T:
        raise RuntimeError("rate_forward: a neuron saw a different number of steps than model.T")
    passes.rates = {k: tr.finish() for k, tr in passes.traces.items()}
    passes.traces.clear()
    for bn in passes.bns:
        st = passes.stats.get((id(bn), 0))
        if st is not None:
            update_running_stats(bn, st.mean, st.var, st.n)  # the whole spike pass's exact statistics

    feats: dict[str, Tensor] = {}
    handles = []

    def recorder(name: str):
        def hook(_module, _inputs, output):
            feats[name] = output

        return hook

    try:
        for name in dict.fromkeys(taps):
            handles.append(modules[name].register_forward_hook(recorder(name)))
        with passes.mode("rate"):
            passes.new_forward()
            logits = model.forward_body(x_mean)
    finally:
        for h in handles:
            h.remove()
    return logits, feats


def gradient_cosines(
    model: TwinNet, x: Tensor, y: Tensor, chunk: int | None = None
) -> dict[str, float]:
    """Cosine similarity, per parameter tensor, between the rate-BP and the BPTT gradient of the cross-entropy
    of the time-mean logits on ``(x, y)``. Both start from the same state (BatchNorm buffers are restored, the
    parameters' ``.grad`` are left as they were). A parameter with a zero gradient under both gets ``1.0``."""
    import copy

    import torch.nn.functional as F

    def grads(use_rate: bool) -> dict[str, Tensor]:
        m = copy.deepcopy(model)
        m.zero_grad(set_to_none=True)
        logits = rate_forward(m, x, chunk=chunk)[0] if use_rate else m(x)
        F.cross_entropy(logits, y).backward()
        return {n: p.grad.detach().flatten().double() for n, p in m.named_parameters() if p.grad is not None}

    bptt, rate = grads(False), grads(True)
    out = {}
    for name, g in bptt.items():
        r = rate.get(name, torch.zeros_like(g))
        ng, nr = g.norm(), r.norm()
        out[name] = 1.0 if ng == 0 and nr == 0 else float(g @ r / (ng * nr).clamp_min(1e-300))
    return out


__all__ = ["DEFAULT_CHUNK", "gradient_cosines", "rate_forward"]
