"""Per-layer activity of a neurokd model, recorded with forward hooks, per time step.

neurokd SNNs run time-folded: every stateless layer sees ``[T*B, ...]`` and only the neurons loop over T
(docs/training.md). The hooks here unfold what a layer received and emitted back to ``[T, B, ...]`` so that counts can
be kept per time step. An ANN is treated as one time step (``T = 1``).

Hooks only read: they return nothing, so the model's outputs are bit-for-bit those of an unhooked run.

- :class:`ActivityHooks` calls a function with a :class:`LayerEvent` for every forward call of every watched
  layer (what :mod:`neurokd.hardware.counting` builds on; nothing is stored).
- :func:`record_activity` keeps the unfolded inputs and outputs of chosen layers over a whole dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from neurokd.snn import IF, LIF

LayerKind = Literal["synapse", "neuron", "pool"]

# Connection ("synaptic") layers: the modules whose weights a spike or an activation is multiplied by.
SYNAPSE_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NEURON_TYPES: tuple[type[nn.Module], ...] = (LIF, IF)
POOL_TYPES: tuple[type[nn.Module], ...] = (
    nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
)


def layer_kind(module: nn.Module) -> LayerKind | None:
    """``"synapse"``, ``"neuron"``, ``"pool"`` or None (a layer activity is not kept for)."""
    if isinstance(module, SYNAPSE_TYPES):
        return "synapse"
    if isinstance(module, NEURON_TYPES):
        return "neuron"
    if isinstance(module, POOL_TYPES):
        return "pool"
    return None


def time_steps(model: nn.Module) -> int:
    """T of a neurokd SNN twin (``model.T``); 1 for an ANN."""
    return int(model.T) if getattr(model, "is_snn", False) else 1


def unfold_time(x: Tensor, T: int, name: str) -> Tensor:
    """``[T*B, ...] -> [T, B, ...]`` (a view)."""
    if x.shape[0] % T:
        raise ValueError(f"layer {name}: {x.shape[0]} rows are not a multiple of T={T}; is the model time-folded?")
    return x.reshape(T, x.shape[0] // T, *x.shape[1:])


SPIKES_MARK = "_neurokd_spikes"


@dataclass(frozen=True)
class LayerEvent:
    """One forward call of one layer. ``x``/``y``: input and output, detached, ``[T, B, ...]``.

    ``x_is_spikes``: the input tensor is, as is, the output of a neurokd LIF/IF module, whose outputs are exactly
    0/1 by construction (saves a check; a reshaped or pooled copy is not marked).
    """

    name: str
    module: nn.Module
    kind: LayerKind
    x: Tensor
    y: Tensor
    x_is_spikes: bool = False


def _mark_spikes(t: Tensor) -> None:
    """Tag a neuron's output (and the tensor it views, when it covers all of it) as 0/1 spikes, with the
    tensor's version counter so that a later in-place change voids the tag. A Python attribute: the values are
    untouched."""
    setattr(t, SPIKES_MARK, t._version)
    if t._base is not None and t._base.numel() == t.numel():
        setattr(t._base, SPIKES_MARK, t._version)


def _is_marked(t: Tensor) -> bool:
    """``t`` or the tensor it is a view of (e.g. through ``nn.Flatten``) holds a neuron's unmodified spikes."""
    for candidate in (t, t._base):
        if candidate is not None and getattr(candidate, SPIKES_MARK, None) == t._version:
            return True
    return False


class ActivityHooks:
    """Context manager: ``callback(event)`` for every forward call of the layers of the given ``kinds``.

    ``T`` defaults to :func:`time_steps` of ``model``. Several layers are watched in execution order; a module
    used twice in one forward pass gives two events.
    """

    def __init__(self, model: nn.Module, callback: Callable[[LayerEvent], Any], T: int | None = None,
                 kinds: Iterable[LayerKind] = ("synapse", "neuron"), names: Iterable[str] | None = None):
        self.model = model
        self.callback = callback
        self.T = time_steps(model) if T is None else int(T)
        self.kinds = frozenset(kinds)
        self.names = None if names is None else frozenset(names)
        self._handles: list[Any] = []

    def layers(self) -> list[tuple[str, nn.Module, LayerKind]]:
        """The watched ``(name, module, kind)``, in registration order."""
        out = []
        for name, module in self.model.named_modules():
            kind = layer_kind(module)
            if kind in self.kinds and (self.names is None or name in self.names):
                out.append((name, module, kind))
        return out

    def _make_hook(self, name: str, kind: LayerKind):
        T, callback = self.T, self.callback

        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            if kind == "neuron":
                _mark_spikes(output)
            x, y = args[0].detach(), output.detach()
            callback(LayerEvent(name, module, kind, unfold_time(x, T, name), unfold_time(y, T, name),
                                _is_marked(args[0])))

        return hook

    def __enter__(self) -> ActivityHooks:
        for name, module, kind in self.layers():
            self._handles.append(module.register_forward_hook(self._make_hook(name, kind)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def iter_batches(data: Any) -> Iterator[tuple[Tensor, Tensor | None]]:
    """``(x, y or None)`` batches from a tensor, an ``(x, y)`` tuple or an iterable (list, Loader) of either."""
    if isinstance(data, Tensor):
        yield data, None
        return
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        yield data[0], data[1]
        return
    for batch in data:
        if isinstance(batch, Tensor):
            yield batch, None
        else:
            x, y = batch[0], batch[1] if len(batch) > 1 else None
            yield x, y


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@dataclass
class LayerActivity:
    """What one layer received and emitted over a dataset: ``inputs``/``outputs`` ``[T, N, ...]`` on the CPU."""

    name: str
    kind: LayerKind
    module_type: str
    inputs: Tensor
    outputs: Tensor


@torch.no_grad()
def record_activity(model: nn.Module, data: Any, kinds: Iterable[LayerKind] = ("synapse", "neuron"),
                    names: Iterable[str] | None = None, T: int | None = None) -> dict[str, LayerActivity]:
    """Run ``model`` (eval mode) over ``data`` and keep every watched layer's unfolded inputs and outputs.

    Memory grows with the dataset; restrict ``names`` for large runs. Samples are concatenated along axis 1;
    a module called several times per forward pass has its calls concatenated there too.
    """
    store: dict[str, tuple[str, str, list[Tensor], list[Tensor]]] = {}

    def keep(ev: LayerEvent) -> None:
        entry = store.setdefault(ev.name, (ev.kind, type(ev.module).__name__, [], []))
        entry[2].append(ev.x.cpu().clone())
        entry[3].append(ev.y.cpu().clone())

    was_training = model.training
    model.eval()
    device = model_device(model)
    try:
        with ActivityHooks(model, keep, T=T, kinds=kinds, names=names):
            for x, _y in iter_batches(data):
                model(x.to(device))
    finally:
        model.train(was_training)
    return {name: LayerActivity(name, kind, mtype, torch.cat(xs, 1), torch.cat(ys, 1))
            for name, (kind, mtype, xs, ys) in store.items()}


__all__ = [
    "ActivityHooks", "LayerActivity", "LayerEvent", "NEURON_TYPES", "POOL_TYPES", "SYNAPSE_TYPES",
    "iter_batches", "layer_kind", "model_device", "record_activity", "time_steps", "unfold_time",
]
