"""Run NeuroBench's own ``Benchmark`` on a neurokd model (NeuroBench 2.3; an optional dependency).

NeuroBench hooks every ``nn.Linear`` / ``nn.Conv*`` and every activation module and sums over each forward
call; its models take batches ``[B, T, ...]`` and loop over time inside ``forward``. A neurokd SNN runs
time-folded (stateless layers once on ``[T*B, ...]``), so the adapter runs a copy of it (BatchNorm folded, as
:func:`neurokd.hardware.analyse` counts it) one time step per call with its membranes carried:

- :class:`SteppedSNN`: that copy, ``x [B, T, ...] -> logits [B, K]``, equal to the model's own output;
- :func:`neurobench_model`: NeuroBench's ``TorchModel`` around it, with every spiking layer registered as an
  activation layer whose membrane NeuroBench's neuron hooks read (as they read snnTorch's), so
  ``SynapticOperations``, ``ActivationSparsity`` and ``MembraneUpdates`` all measure it; an ANN goes in as is;
- :func:`neurobench_inputs` / :func:`neurobench_loader`: neurokd batches as NeuroBench's ``[B, T, ...]``;
- :func:`run_neurobench`: all of the above and ``Benchmark(...).run()`` in one call.

On the same inputs NeuroBench's figures equal :func:`neurokd.hardware.count`'s (``Effective_ACs`` = synops,
``Effective_MACs`` = macs, ``Dense`` = dense, ``ActivationSparsity`` = 1 - firing rate, ``MembraneUpdates`` =
membrane_updates), which ``tests/hardware/test_neurobench.py`` checks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neurokd.errors import UserError
from neurokd.hardware.activity import iter_batches
from neurokd.models.fold import inference_model
from neurokd.snn import LIF, encode

SNN_METRICS: tuple[str, ...] = ("SynapticOperations", "ActivationSparsity", "MembraneUpdates")
ANN_METRICS: tuple[str, ...] = ("SynapticOperations", "ActivationSparsity")


def require_neurobench() -> None:
    """One line naming the install command when NeuroBench is missing."""
    try:
        import neurobench  # noqa: F401
    except ImportError:
        raise UserError("the NeuroBench adapter needs NeuroBench: pip install --no-deps neurobench==2.3.0 "
                        "(it also needs snntorch, tqdm and numpy; `make setup` installs them)") from None


class NeuronStep(nn.Module):
    """A neurokd LIF/IF layer run one time step per call, its membrane kept between calls and exposed the way
    NeuroBench's neuron hooks read an snnTorch neuron (``mem``, ``init_hidden``, ``output``)."""

    init_hidden = True  # snnTorch's flags for "returns spikes only, keeps its own state"
    output = False

    def __init__(self, neuron: LIF):
        super().__init__()
        self.neuron = neuron
        neuron.T = 1
        neuron.stateful = True
        neuron.reset_state()

    @property
    def mem(self) -> Tensor | None:
        return self.neuron.membrane

    def forward(self, x: Tensor) -> Tensor:
        return self.neuron(x)


class SteppedSNN(nn.Module):
    """A copy of a neurokd SNN twin (BatchNorm folded) stepped one time step per call: ``x [B, T, ...]`` ->
    the mean over T of the per-step logits ``[B, K]``, i.e. the model's own output on the same sequence."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not getattr(model, "is_snn", False):
            raise UserError("SteppedSNN needs a neurokd SNN twin (kind: snn); give an ANN to neurobench_model as is")
        self.net = inference_model(model)
        self.T = int(model.T)
        for parent in list(self.net.modules()):
            for name, child in parent.named_children():
                if isinstance(child, LIF):
                    setattr(parent, name, NeuronStep(child))

    def forward(self, x: Tensor) -> Tensor:
        self.net.reset_state()
        out: Any = 0
        for t in range(x.shape[1]):
            out = out + self.net.forward_body(x[:, t])
        return out / x.shape[1]


def neurobench_inputs(model: nn.Module, x: Tensor) -> Tensor:
    """A neurokd batch as NeuroBench feeds it: an SNN gets ``[B, T, ...]`` (a static ``[B, ...]`` input encoded
    with the model's encoder, an event sequence ``[T, B, ...]`` transposed); an ANN gets what it sees itself
    (a static input as is, an event sequence summed over T)."""
    static_rank = len(getattr(model.spec, "input_shape", None) or ()) + 1
    if not getattr(model, "is_snn", False):
        return x.sum(0) if x.ndim == static_rank + 1 else x
    seq = encode(x, int(model.T), model.spec.encoder) if x.ndim == static_rank else x
    return seq.transpose(0, 1).contiguous()


def neurobench_loader(model: nn.Module, data: Any, batch_size: int | None = None):
    """A ``torch.utils.data.DataLoader`` of ``(input, label)`` over ``data`` (neurokd batches: a Loader, an
    ``(x, y)`` pair, a list of them) in NeuroBench's layout; ``batch_size`` defaults to the first batch's."""
    from torch.utils.data import DataLoader, TensorDataset

    xs, ys = [], []
    for x, y in iter_batches(data):
        if y is None:
            raise UserError("NeuroBench's Benchmark needs labelled batches (x, y)")
        xs.append(neurobench_inputs(model, x))
        ys.append(y)
    if not xs:
        raise UserError("neurobench_loader: no input batches")
    return DataLoader(TensorDataset(torch.cat(xs), torch.cat(ys)), batch_size=batch_size or len(ys[0]))


def neurobench_model(model: nn.Module):
    """NeuroBench's ``TorchModel`` of ``model``, ready for ``neurobench.benchmarks.Benchmark``: an SNN as a
    :class:`SteppedSNN` whose spiking layers NeuroBench sees as spiking activations, an ANN (BatchNorm folded)
    as is."""
    require_neurobench()
    from neurobench.models import TorchModel

    class _SpikingTorchModel(TorchModel):
        def register_hooks(self) -> None:
            super().register_hooks()
            for hook in self.activation_hooks:
                if isinstance(hook.layer, NeuronStep):
                    hook.spiking = True  # read its membrane like an snnTorch neuron's (MembraneUpdates)

    if not getattr(model, "is_snn", False):
        return TorchModel(inference_model(model))
    wrapped = _SpikingTorchModel(SteppedSNN(model))
    wrapped.add_activation_module(NeuronStep)
    return wrapped


def run_neurobench(model: nn.Module, data: Any, metrics: list[type] | None = None,
                   batch_size: int | None = None) -> dict[str, Any]:
    """NeuroBench's ``Benchmark.run()`` on ``model`` over ``data`` (labelled neurokd batches). ``metrics``:
    NeuroBench workload metric classes (default: ``SynapticOperations``, ``ActivationSparsity`` and, for an SNN,
    ``MembraneUpdates``). Returns NeuroBench's result dict, per sample."""
    require_neurobench()
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics import workload

    if metrics is None:
        names = SNN_METRICS if getattr(model, "is_snn", False) else ANN_METRICS
        metrics = [getattr(workload, name) for name in names]
    loader = neurobench_loader(model, data, batch_size)
    with torch.no_grad():
        return Benchmark(neurobench_model(model), loader, [], [], [[], list(metrics)]).run(quiet=True)


__all__ = ["NeuronStep", "SteppedSNN", "neurobench_inputs", "neurobench_loader", "neurobench_model",
           "require_neurobench", "run_neurobench"]
