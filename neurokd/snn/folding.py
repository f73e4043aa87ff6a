"""Time folding: stateless layers run once on ``[T*B, ...]`` instead of T times on ``[B, ...]``."""

from __future__ import annotations

from torch import Tensor, nn


def fold(x: Tensor) -> Tensor:
    """``[T, B, ...] -> [T*B, ...]``."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def unfold(x: Tensor, T: int) -> Tensor:
    """``[T*B, ...] -> [T, B, ...]``."""
    return x.reshape(T, x.shape[0] // T, *x.shape[1:])


class TimeFolded(nn.Module):
    """Apply a stateless ``module`` to every step of a ``[T, B, ...]`` sequence in one call."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        return unfold(self.module(fold(x)), x.shape[0])
