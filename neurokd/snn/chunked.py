"""Time-chunked execution of a time-folded SNN: its ``[T*B, ...]`` input in chunks ``[Tc*B, ...]`` of consecutive
time steps (sizes from :func:`neurokd.snn.folding.chunk_steps`), neurons carrying their membrane from one chunk to
the next (:func:`neurokd.snn.neurons.carrying_state`). A module with a ``forward_chunks(list) -> list`` instance
attribute gets all chunks in one call in breadth-first order (rate-based backprop's spike pass sets one).

Two orders; :func:`plan` picks one from what the network's modules need:

- **depth-first** when no module normalises with batch statistics (inference, eval-mode BatchNorm): the whole
  network runs on one chunk, then on the next. Without autograd only one chunk's activations exist at a time.
  Every layer computes the same rows as in the folded run, so the spikes are the folded run's.
- **breadth-first** when a BatchNorm uses batch statistics (training): layer by layer, every layer over all
  chunks before the next one starts, as the folded network runs, with each tensor one chunk in size. A
  BatchNorm normalises every chunk with the statistics of all chunks together (:func:`batch_norm_chunks`: the
  folded run's ``T*B``-sample statistics, running statistics updated once), so values and gradients are the
  folded run's up to float rounding. The layer order is an FX trace of the network's ``forward_body``.

A network runs folded instead (:func:`plan` returns None) when one chunk holds all steps, when a module has hooks
(they expect the whole ``[T*B, ...]`` output of a call), when FX cannot trace ``forward_body``, or when the graph
has an op outside the per-sample layers and elementwise arithmetic listed here (its result could depend on rows
of other chunks).
"""

from __future__ import annotations

import copy
import operator
import weakref
from dataclasses import dataclass, field

import torch
from torch import Tensor, fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from neurokd.snn.batch_stats import PooledMoments, channel_shape, update_running_stats, uses_batch_stats
from neurokd.snn.folding import CHUNK_BYTES, chunk_sizes, chunk_steps
from neurokd.snn.neurons import LIF, carrying_state, spiking_neurons

_PER_SAMPLE = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.Identity, nn.ReLU, nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d,
    nn.MaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
)
_PLAIN_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_ELEMENTWISE = frozenset({operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul})


@dataclass(frozen=True)
class ChunkPlan:
    """Steps per chunk, in time order, and whether the chunks run layer by layer (see the module docstring)."""

    sizes: tuple[int, ...]
    breadth_first: bool


class _Tracer(fx.Tracer):
    """Traces ``forward_body`` with neurons (their time loop) and every BatchNorm (its statistics) as leaves."""

    traced_func_name = "forward_body"

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LIF | _BatchNorm) or super().is_leaf_module(m, qualname)


@dataclass
class _Traced:
    modules: tuple[int, ...]  # ids of the modules traced: a replaced submodule means a new trace
    graph: fx.Graph | None
    last_uses: dict[fx.Node, list[fx.Node]] = field(default_factory=dict)  # node -> values dead after it
    step_bytes: dict[tuple, int] = field(default_factory=dict)  # (sample shape, dtype) -> bytes


_TRACES: weakref.WeakKeyDictionary[nn.Module, _Traced] = weakref.WeakKeyDictionary()


def _trace(model: nn.Module, modules: tuple[int, ...]) -> _Traced:
    try:
        graph = _Tracer().trace(model)
    except Exception:  # any body FX cannot trace (data-dependent control flow, ...) simply runs folded
        return _Traced(modules, None)
    seen: set[fx.Node] = set()
    last_uses: dict[fx.Node, list[fx.Node]] = {}
    for node in reversed(graph.nodes):
        for arg in node.all_input_nodes:
            if arg not in seen:
                seen.add(arg)
                last_uses.setdefault(node, []).append(arg)
    return _Traced(modules, graph, last_uses)


def has_hooks(modules: list[nn.Module]) -> bool:
    """Whether a forward or backward hook is registered on any of ``modules``, or globally."""
    from torch.nn.modules import module as module_mod

    if (module_mod._global_forward_hooks or module_mod._global_forward_pre_hooks
            or module_mod._global_backward_hooks or module_mod._global_backward_pre_hooks):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
               for m in modules)


def _meta_shadow(m: nn.Module) -> nn.Module:
    """A shallow copy of leaf ``m`` whose parameters and buffers are meta tensors (shapes only, no data)."""
    shadow = copy.copy(m)
    shadow._parameters = {k: None if p is None else p.to("meta") for k, p in m._parameters.items()}
    shadow._buffers = {k: None if b is None else b.to("meta") for k, b in m._buffers.items()}
    return shadow


def _probe_step_bytes(model: nn.Module, graph: fx.Graph, sample_shape: tuple[int, ...], dtype: torch.dtype) -> int:
    """Bytes of the largest value in ``graph`` for one sample and one step, from a run on meta tensors (no
    arithmetic, no hooks: leaves are called through ``forward`` on meta copies; neurons and BatchNorm keep shapes)."""
    env: dict[fx.Node, object] = {}
    biggest = 0
    for node in graph.nodes:
        if node.op == "placeholder":
            out = torch.empty(1, *sample_shape, dtype=dtype, device="meta")
        elif node.op == "output":
            break
        else:
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            if node.op == "call_module":
                m = model.get_submodule(node.target)
                keeps_shape = isinstance(m, LIF | _BatchNorm)
                out = args[0] if keeps_shape else type(m).forward(_meta_shadow(m), *args, **kwargs)
            else:
                out = node.target(*args, **kwargs)
        if isinstance(out, Tensor):
            biggest = max(biggest, out.numel() * out.element_size())
        env[node] = out
    return biggest


def _order(model: nn.Module, graph: fx.Graph) -> bool | None:
    """True: breadth-first; False: depth-first; None: the graph cannot run in time chunks."""
    breadth = False
    for node in graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_function" and node.target in _ELEMENTWISE and not node.kwargs:
            continue
        if node.op != "call_module" or len(node.args) != 1 or node.kwargs:
            return None
        try:
            m = model.get_submodule(node.target)
        except AttributeError:  # the model changed since it was traced
            return None
        if isinstance(m, LIF) or isinstance(m, _PER_SAMPLE) or (isinstance(m, nn.Dropout) and not m.training):
            continue
        if isinstance(m, nn.Flatten) and m.start_dim >= 1:
            continue
        if isinstance(m, _BatchNorm):
            if not uses_batch_stats(m):
                continue
            if type(m) in _PLAIN_BN or "forward_chunks" in m.__dict__:
                breadth = True
                continue
        return None
    return breadth


def plan(model: nn.Module, steps: int, batch: int, sample_shape: tuple[int, ...], chunk: int | None = None,
         budget: int = CHUNK_BYTES) -> ChunkPlan | None:
    """How to run ``model.forward_body`` over ``steps`` time steps of a batch of ``batch`` samples shaped
    ``sample_shape``: ``chunk`` steps per chunk, or (None) on CPU as many as keep the largest activation within
    ``budget`` bytes (the budget is about the CPU's allocator and caches: on a GPU, None folds all steps).
    None: run folded, all steps at once (one chunk, hooks, or an op that cannot be chunked)."""
    if chunk is not None and chunk >= steps:
        return None
    param = next(model.parameters(), None)
    if chunk is None:
        if param is not None and param.device.type != "cpu":
            return None
        dtype = param.dtype if param is not None else torch.get_default_dtype()
        key = (tuple(sample_shape), dtype)
        cached = _TRACES.get(model)
        if cached is not None and key in cached.step_bytes:  # the common case: one lookup per forward
            if chunk_steps(steps, batch * cached.step_bytes[key], budget) >= steps:
                return None  # fold (a model changed since, at worst, misses a chunking it could have had)
    modules = list(model.modules())
    ids = tuple(map(id, modules))
    traced = _TRACES.get(model)
    if traced is None or traced.modules != ids:
        if has_hooks(modules):  # tracing would call them with proxies; trace on a later, unhooked call
            return None
        traced = _TRACES[model] = _trace(model, ids)
    if traced.graph is None:
        return None
    if chunk is None:
        if key not in traced.step_bytes:
            traced.step_bytes[key] = _probe_step_bytes(model, traced.graph, key[0], dtype)
        chunk = chunk_steps(steps, batch * traced.step_bytes[key], budget)
        if chunk >= steps:
            return None
    if has_hooks(modules):
        return None
    breadth = _order(model, traced.graph)
    return None if breadth is None else ChunkPlan(tuple(chunk_sizes(steps, chunk)), breadth)


def run_chunks(model: nn.Module, plan: ChunkPlan, chunks: list[Tensor], batch: int) -> list[Tensor]:
    """``model.forward_body`` over time chunks ``[Tc*B, ...]`` (``plan.sizes`` steps each, in time order), neurons
    carrying state across them. Returns the output chunks; concatenated they are the folded run's output."""
    with carrying_state(spiking_neurons(model), batch):
        if not plan.breadth_first:
            return [model.forward_body(c) for c in chunks]
        return _breadth_first(model, _TRACES[model], chunks)


class _Chunks(list):
    """One value of the graph: a tensor per time chunk."""


def _breadth_first(model: nn.Module, traced: _Traced, chunks: list[Tensor]) -> list[Tensor]:
    env: dict[fx.Node, object] = {}
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            env[node] = _Chunks(chunks)
        elif node.op == "output":
            return list(env[node.args[0]])
        elif node.op == "call_module":
            m = model.get_submodule(node.target)
            xs = env[node.args[0]]
            own = m.__dict__.get("forward_chunks")  # a whole-list override (rate-based backprop's spike pass)
            if own is not None:
                env[node] = _Chunks(own(xs))
            elif isinstance(m, _BatchNorm) and uses_batch_stats(m):
                env[node] = _Chunks(batch_norm_chunks(m, xs))
            else:
                env[node] = _Chunks(m(x) for x in xs)
        else:
            args = fx.node.map_arg(node.args, lambda n: env[n])
            env[node] = _Chunks(node.target(*[a[i] if isinstance(a, _Chunks) else a for a in args])
                                for i in range(len(chunks)))
        for dead in traced.last_uses.get(node, ()):
            env.pop(dead, None)  # without autograd this frees a layer's chunks as soon as no layer needs them
    raise RuntimeError("traced graph has no output")


def chunk_moments(xs: list[Tensor]) -> PooledMoments:
    """Per-channel mean and biased variance (float64) over all chunks ``[N_k, C, ...]`` together."""
    pooled = PooledMoments()
    with torch.no_grad():
        for x in xs:
            mean, var = torch.ops.aten.batch_norm_update_stats(x, None, None, 0.0)
            pooled.add(mean.double(), var.double(), x.numel() // x.shape[1])
    return pooled


def normalize_chunks(bn: nn.Module, xs: list[Tensor], pooled: PooledMoments) -> list[Tensor]:
    """Every chunk of ``xs`` normalised with the ``pooled`` statistics of all of them, then ``bn``'s affine map;
    gradients flow through the shared statistics as through the folded BatchNorm's (running stats untouched)."""
    low = xs[0].dtype in (torch.float16, torch.bfloat16)
    stat_dtype = torch.float32 if low else xs[0].dtype  # BatchNorm keeps low-precision inputs' statistics in fp32
    mean, var = pooled.mean.to(stat_dtype), pooled.var.to(stat_dtype)
    return list(_NormalizeChunks.apply(mean, var, bn.weight, bn.bias, bn.eps, pooled.n, *xs))


def batch_norm_chunks(bn: nn.Module, xs: list[Tensor]) -> list[Tensor]:
    """``bn`` (training mode) applied to the concatenation of ``xs`` along the batch, returned per chunk: every
    chunk normalised with the statistics of all of them, running statistics updated once, gradients through the
    shared statistics (the folded BatchNorm's, exactly)."""
    pooled = chunk_moments(xs)
    update_running_stats(bn, pooled.mean, pooled.var, pooled.n)
    return normalize_chunks(bn, xs, pooled)


class _NormalizeChunks(torch.autograd.Function):
    """Forward: every chunk ``x_k`` normalised with shared ``mean``/``var`` (biased) over ``n`` samples per channel,
    then ``bn``'s affine map. Backward: the batch-statistics gradient over all chunks together,

        dL/dx_k = a g_k + b x_k + d,  a = w inv,  b = -a inv S_gx / n,  d = -a S_g / n - b mean

    with ``S_g = sum g`` and ``S_gx = sum g xhat`` over every chunk (per channel; ``inv = 1/sqrt(var + eps)``)."""

    @staticmethod
    def forward(ctx, mean, var, weight, bias, eps, n, *xs):  # type: ignore[override]
        ys = tuple(torch.batch_norm(x, weight, bias, mean, var, False, 0.0, eps, torch.backends.cudnn.enabled)
                   for x in xs)
        invstd = torch.rsqrt(var + eps)
        ctx.save_for_backward(mean, invstd, weight, *xs)
        ctx.eps, ctx.n, ctx.has_bias = eps, n, bias is not None
        return ys

    @staticmethod
    def backward(ctx, *gs):  # type: ignore[override]
        mean, invstd, weight, *xs = ctx.saved_tensors
        w = weight if weight is not None else torch.ones_like(invstd)
        sum_g = sum_gx = None
        for g, x in zip(gs, xs):  # per-channel sums only (the fused kernel, no input gradient yet)
            _, gx_k, g_k = torch.ops.aten.native_batch_norm_backward(
                g, x, w, None, None, mean, invstd, True, ctx.eps, [False, True, True])
            sum_g = g_k if sum_g is None else sum_g + g_k
            sum_gx = gx_k if sum_gx is None else sum_gx + gx_k
        a = w * invstd
        b = -(a * invstd) * (sum_gx / ctx.n)
        d = -a * (sum_g / ctx.n) - b * mean
        shape = channel_shape(xs[0])
        grads = [torch.addcmul(d.view(shape), g, a.view(shape)).addcmul_(x, b.view(shape)).to(x.dtype)
                 for g, x in zip(gs, xs)]
        g_weight = sum_gx if weight is not None and ctx.needs_input_grad[2] else None
        g_bias = sum_g if ctx.has_bias and ctx.needs_input_grad[3] else None
        return (None, None, g_weight, g_bias, None, None, *grads)


__all__ = ["ChunkPlan", "batch_norm_chunks", "chunk_moments", "has_hooks", "normalize_chunks", "plan", "run_chunks"]
