"""Tiny time-folded SNNs for hardware tests: the neurokd layout (stateless layers on ``[T*B, ...]``) with
hand-chosen weights, plus a per-step twin (time loop inside ``forward``) for NeuroBench."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from neurokd.snn import IF, fold, spiking_neurons, unfold


class FoldedSNN(nn.Module):
    """``body`` (a Sequential with neurons built with ``T``) applied to a direct-encoded, folded input."""

    is_snn = True

    def __init__(self, body: nn.Sequential, T: int):
        super().__init__()
        self.body = body
        self.T = T

    def forward(self, x: Tensor) -> Tensor:
        seq = x.unsqueeze(0).expand(self.T, *x.shape)
        return unfold(self.body(fold(seq)), self.T).mean(0)


class StepLoop(nn.Module):
    """The same network stepped one time step per call (``x [B, T, ...]``), for NeuroBench's TorchModel."""

    def __init__(self, body: nn.Sequential, T: int):
        super().__init__()
        self.body = copy.deepcopy(body)
        self.T = T
        for m in spiking_neurons(self.body):
            m.T = 1
            m.stateful = True

    def forward(self, x: Tensor) -> Tensor:
        for m in spiking_neurons(self.body):
            m.reset_state()
        out = 0
        for t in range(x.shape[1]):
            out = out + self.body(x[:, t])
        return out / x.shape[1]


def if_neuron(T: int, threshold: float = 1.0) -> IF:
    return IF(threshold=threshold, reset="zero", T=T)


def set_weight(layer: nn.Module, w) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(w, dtype=torch.float32).reshape(layer.weight.shape))
        if layer.bias is not None:
            layer.bias.zero_()
    return layer
