"""Tiny time-folded SNNs for hardware tests: the neurokd layout (stateless layers on ``[T*B, ...]``) with
hand-chosen weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from neurokd.snn import IF, fold, unfold


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


def if_neuron(T: int, threshold: float = 1.0) -> IF:
    return IF(threshold=threshold, reset="zero", T=T)


def set_weight(layer: nn.Module, w) -> nn.Module:
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(w, dtype=torch.float32).reshape(layer.weight.shape))
        if layer.bias is not None:
            layer.bias.zero_()
    return layer
