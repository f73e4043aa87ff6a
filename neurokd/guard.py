"""The resource guard: what a model, a T and a batch size will need, estimated before anything is allocated.

A model from a spec is built on PyTorch's ``meta`` device (shapes without storage), so even a spec with width
100000 or an input of 1x100000x100000 costs nothing to build. Its :class:`Footprint` (parameter bytes, and per
sample and time step every layer's output summed and the largest one) comes in two grades:

- :func:`bound`, from the module tree alone: every layer's output holds at most (the widest channel or feature
  count) x (the input's spatial size grown by every padding and adaptive pool). Instant, and loose.
- :func:`measure`, exact: one forward pass of one sample and one step on the meta device, recording every
  layer's output. torch traces several ops on meta tensors through ``torch._refs``, whose first use imports
  ``torch._dynamo`` (seconds), so it only runs when the bound does not already fit.

neurokd runs stateless layers on ``[T*B, ...]`` at once, so activations grow linearly in ``T * batch``. The
estimates (bytes), each checked against the memory limit of :mod:`neurokd.limits` and refused with the
estimate in the message:

- inference: parameters + 3 x (largest layer output) x T x batch (a layer's input, its output and a neuron
  membrane are alive together);
- training with BPTT: 4 x parameters (weights, gradients, two AdamW moments) + (all layer outputs) x T x batch,
  since the graph keeps every step (resnet19, T=4, batch 32: 2.3 GB predicted, 2.2 GB measured by
  benchmarks/ratebp_memory.py);
- training with rate-based backprop: 4 x parameters + (all layer outputs) x batch (one rate pass with graph)
  + the inference term for the spike pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from neurokd.errors import UserError
from neurokd.limits import check_memory, fmt_bytes, limits
from neurokd.models import ModelSpec, build_model
from neurokd.snn.neurons import LIF

INFERENCE_LIVE_TENSORS = 3  # layer input, layer output, neuron membrane
TRAINING_PARAM_COPIES = 4  # weights, gradients, AdamW's two moments


@dataclass(frozen=True)
class Footprint:
    """A model's sizes in bytes: parameters, and per sample and time step every layer's output summed
    (``step_bytes``) and the largest one (``peak_bytes``)."""

    param_bytes: int
    step_bytes: int
    peak_bytes: int

    def inference_bytes(self, T: int, batch: int) -> int:
        return self.param_bytes + INFERENCE_LIVE_TENSORS * self.peak_bytes * T * batch

    def training_bytes(self, T: int, batch: int, backprop: str) -> int:
        params = TRAINING_PARAM_COPIES * self.param_bytes
        if backprop == "rate":  # graph memory does not grow with T
            return params + self.step_bytes * batch + INFERENCE_LIVE_TENSORS * self.peak_bytes * T * batch
        return params + self.step_bytes * T * batch


def _tensors(module: nn.Module) -> list[tuple[str, Tensor]]:
    return [*module.named_parameters(), *module.named_buffers()]


def _pairs(v: int | tuple | str) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, tuple | list) else (v,) if isinstance(v, int) else (0,)


def bound(module: nn.Module, input_shape: list[int]) -> Footprint:
    """An upper bound of :func:`measure` from the module tree alone (see the module docstring). Covers layers
    that keep or shrink the spatial size (convolutions, pooling, flatten, elementwise), as neurokd's zoo and
    NIR imports have; ``padding='same'`` counts as its kernel."""
    params = sum(t.numel() * t.element_size() for _, t in _tensors(module))
    itemsize = max([t.element_size() for _, t in _tensors(module) if t.is_floating_point()] or [4])
    widths, grow, floors = [int(input_shape[0]) if input_shape else 1], 0, []
    leaves = 0
    for m in module.modules():
        leaves += not any(True for _ in m.children())
        if isinstance(m, nn.modules.conv._ConvNd):
            widths.append(m.out_channels)
            grow += max(_pairs(m.padding) if m.padding != "same" else m.kernel_size)
        elif isinstance(m, nn.Linear):
            widths.append(m.out_features)
        elif isinstance(m, nn.modules.pooling._AvgPoolNd | nn.modules.pooling._MaxPoolNd):
            grow += max(_pairs(m.padding))
        elif isinstance(m, nn.modules.pooling._AdaptiveAvgPoolNd | nn.modules.pooling._AdaptiveMaxPoolNd):
            floors += [int(d) for d in _pairs(m.output_size) if d is not None]
    spatial = math.prod(max([int(d) + 2 * grow, *floors]) for d in input_shape[1:])
    per_layer = max(widths) * spatial * itemsize
    return Footprint(params, per_layer * max(leaves, 1), per_layer)


@contextlib.contextmanager
def _meta_shortcuts() -> Iterator[None]:
    """While a model is built and run on the meta device: skip ``torch.nn.init`` (meta tensors hold no values)
    and give batch norm and linear layers their output shapes directly, sparing the ``torch._dynamo`` import
    their meta tracing costs where it can be spared."""
    patched: dict[tuple[object, str], Callable] = {}
    for name, fn in vars(nn.init).items():
        if name.endswith("_") and not name.startswith("_") and callable(fn):
            patched[(nn.init, name)] = fn
    shapes: dict[str, Callable[..., Tensor]] = {
        "batch_norm": lambda x, *a, **k: x,
        "linear": lambda x, w, *a, **k: torch.empty(*x.shape[:-1], w.shape[0], dtype=x.dtype, device="meta"),
    }
    for name in shapes:
        patched[(F, name)] = getattr(F, name)

    def on_meta(fn, meta_fn=lambda tensor, *a, **k: tensor):
        @functools.wraps(fn)
        def wrapper(tensor, *args, **kwargs):
            if isinstance(tensor, Tensor) and tensor.is_meta:
                return meta_fn(tensor, *args, **kwargs)
            return fn(tensor, *args, **kwargs)
        return wrapper

    for (owner, name), fn in patched.items():
        setattr(owner, name, on_meta(fn, shapes[name]) if owner is F else on_meta(fn))
    try:
        yield
    finally:
        for (owner, name), fn in patched.items():
            setattr(owner, name, fn)


def _same_shape(x: Tensor) -> Tensor:
    return torch.empty_like(x)


def measure(module: nn.Module, example: Tensor, after: Callable[[], None] | None = None) -> tuple[Footprint, Tensor]:
    """Exact footprint of ``module`` and its output for ``example`` (a ``meta`` tensor of one sample and one
    step), on the meta device: the module's own tensors are stood in for, nothing is allocated. ``after`` runs
    once the pass is done (e.g. to clear neuron state)."""
    sizes: list[int] = []

    def record(_m, _inputs, out):
        if isinstance(out, Tensor):
            sizes.append(out.numel() * out.element_size())

    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(record) for m in leaves]
    neurons = [m for m in leaves if isinstance(m, LIF)]
    for m in neurons:  # spikes have their input's shape; the step loop is slow to trace on meta
        m.forward = _same_shape
    state = {k: torch.empty_like(v, device="meta") for k, v in _tensors(module)}
    params = sum(v.numel() * v.element_size() for v in state.values())
    try:
        with torch.no_grad(), _meta_shortcuts():
            out = torch.func.functional_call(module, state, (example,))
    finally:
        for h in hooks:
            h.remove()
        for m in neurons:
            del m.forward
        if after is not None:
            after()
    return Footprint(params, sum(sizes), max(sizes, default=0)), out


def module_footprint(module: nn.Module, input_shape: list[int], example_shape: list[int],
                     need: Callable[[Footprint], int], after: Callable[[], None] | None = None) -> Footprint:
    """Footprint of a built ``module`` taking samples of ``input_shape``: its :func:`bound` when ``need(bound)``
    fits the memory limit, else :func:`measure` on a meta input of ``example_shape`` (one sample and step, as
    the module takes it: ``[1, *input_shape]``, or ``[1, 1, *input_shape]`` for a time-major network)."""
    fp = bound(module, input_shape)
    if need(fp) <= limits().memory_bytes:
        return fp
    return measure(module, torch.empty(*example_shape, device="meta"), after)[0]


def check_module(module: nn.Module, input_shape: list[int], example_shape: list[int], T: int, batch: int,
                 what: str, after: Callable[[], None] | None = None) -> Footprint:
    """:func:`check_inference` for a built module (a NIR import, say) rather than a spec."""
    fp = module_footprint(module, input_shape, example_shape, lambda f: f.inference_bytes(T, batch), after)
    check_memory(fp.inference_bytes(T, batch), f"{what}: input {'x'.join(map(str, input_shape))} at T={T}, "
                 f"batch {batch}", "use a smaller T or batch")
    return fp


_SPECS: dict[str, tuple[nn.Module, Footprint, bool]] = {}  # spec -> (meta model, footprint, exact?)


def _meta_model(spec: ModelSpec, what: str) -> tuple[nn.Module, Footprint, bool]:
    key = json.dumps(spec.to_dict(), sort_keys=True)
    if key not in _SPECS:
        try:
            with torch.device("meta"), _meta_shortcuts():
                model = build_model(dataclasses.replace(spec, T=1))
            _SPECS[key] = (model, bound(model, list(spec.input_shape or [])), False)
        except (RuntimeError, ValueError, OverflowError, TypeError, IndexError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"{what}: cannot size a {spec.arch} of width {spec.width} for input "
                            f"{spec.input_shape} ({first[:160]})") from None
    return _SPECS[key]


def spec_footprint(spec: ModelSpec, what: str, need: Callable[[Footprint], int]) -> Footprint:
    """Footprint of the model ``spec`` builds: the :func:`bound` when ``need(bound)`` fits the memory limit,
    else the exact :func:`measure` (cached per spec)."""
    model, fp, exact = _meta_model(spec, what)
    if exact or need(fp) <= limits().memory_bytes:
        return fp
    if need(Footprint(fp.param_bytes, 0, 0)) > limits().memory_bytes:
        return Footprint(fp.param_bytes, 0, 0)  # the parameters alone are too many: no need to measure
    try:
        fp, _ = measure(model, torch.empty(1, *(spec.input_shape or []), device="meta"))
    except (RuntimeError, ValueError, OverflowError, TypeError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{what}: cannot size a {spec.arch} for input {spec.input_shape} ({first[:160]})") from None
    _SPECS[json.dumps(spec.to_dict(), sort_keys=True)] = (model, fp, True)
    return fp


def check_inference(spec: ModelSpec, T: int, batch: int, what: str) -> Footprint:
    """Refuse running ``spec`` on ``batch`` samples of ``T`` steps when the estimate exceeds the memory limit."""
    T = T if spec.kind == "snn" else 1
    fp = spec_footprint(spec, what, lambda f: f.inference_bytes(T, batch))
    check_memory(fp.inference_bytes(T, batch), f"{what}: a {spec.arch} {spec.kind.upper()} "
                 f"({fmt_bytes(fp.param_bytes)} of parameters) at T={T}, batch {batch}",
                 "use a smaller T, batch or model")
    return fp


def check_training(spec: ModelSpec, T: int, batch: int, backprop: str, what: str = "training") -> Footprint:
    """Refuse training ``spec`` at ``T`` and ``batch`` with ``backprop`` (``bptt`` or ``rate``) when the
    estimate exceeds the memory limit. Call it once the spec's input shape and classes are known."""
    T = T if spec.kind == "snn" else 1
    fp = spec_footprint(spec, what, lambda f: f.training_bytes(T, batch, backprop))
    check_memory(fp.training_bytes(T, batch, backprop), f"{what}: a {spec.arch} {spec.kind.upper()} "
                 f"({fmt_bytes(fp.param_bytes)} of parameters) at T={T}, batch {batch}, backprop {backprop}",
                 "use a smaller T, batch or model" + (", or --backprop rate" if backprop == "bptt" else ""))
    return fp
