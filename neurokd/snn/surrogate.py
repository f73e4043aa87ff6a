"""Surrogate gradients for the Heaviside spike function.

A surrogate is a small frozen dataclass with ``grad(x)``: the pseudo-derivative dS/dx used in the backward
pass, where ``x = v - threshold`` (membrane minus threshold, same units as the membrane); ``grad_`` computes it in
place, ``scaled_grad_`` in place up to a constant factor (rate-BP's eligibility traces fold the factor into an
accumulation). The forward pass is always the exact strict Heaviside ``x > 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from neurokd.errors import ConfigError

_ONE = torch.ones(())


@dataclass(frozen=True)
class Sigmoid:
    """d/dx sigmoid(alpha x) = alpha s (1 - s) (SpikingJelly's default, alpha = 4)."""

    alpha: float = 4.0
    name: str = "sigmoid"

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1.0 - s)

    def grad_(self, x: Tensor) -> Tensor:
        """:meth:`grad` computed in place in ``x`` (no allocation)."""
        s = x.mul_(self.alpha).sigmoid_()
        return s.addcmul_(s, s, value=-1.0).mul_(self.alpha)

    def scaled_grad_(self, x: Tensor) -> tuple[Tensor, float]:
        """``(g, c)`` with ``grad(x) = c * g``, ``g`` computed in place in ``x`` with one op fewer."""
        s = x.mul_(self.alpha).sigmoid_()
        return s.addcmul_(s, s, value=-1.0), self.alpha


@dataclass(frozen=True)
class ATan:
    """d/dx (1/pi) atan(pi/2 alpha x) = (alpha/2) / (1 + (pi/2 alpha x)^2) (snnTorch's default, alpha = 2)."""

    alpha: float = 2.0
    name: str = "atan"

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2.0) / (1.0 + (math.pi / 2.0 * self.alpha * x).square())

    def grad_(self, x: Tensor) -> Tensor:
        """:meth:`grad` computed in place in ``x`` (no allocation)."""
        return x.mul_(math.pi / 2.0 * self.alpha).square_().add_(1.0).reciprocal_().mul_(self.alpha / 2.0)

    def scaled_grad_(self, x: Tensor) -> tuple[Tensor, float]:
        """``(g, c)`` with ``grad(x) = c * g``, ``g = 1 / (1 + k x^2)`` computed in place in ``x`` in two ops."""
        k = (math.pi / 2.0 * self.alpha) ** 2
        return torch.addcmul(_ONE.to(x), x, x, value=k, out=x).reciprocal_(), self.alpha / 2.0


@dataclass(frozen=True)
class Triangle:
    """max(0, 1 - |x| / alpha) / alpha: a triangle of half-width ``alpha`` and unit area."""

    alpha: float = 1.0
    name: str = "triangle"

    def grad(self, x: Tensor) -> Tensor:
        return (1.0 - x.abs() / self.alpha).clamp_min(0.0) / self.alpha

    def grad_(self, x: Tensor) -> Tensor:
        """:meth:`grad` computed in place in ``x`` (no allocation)."""
        return x.abs_().div_(-self.alpha).add_(1.0).clamp_min_(0.0).div_(self.alpha)

    def scaled_grad_(self, x: Tensor) -> tuple[Tensor, float]:
        """``(g, c)`` with ``grad(x) = c * g``, ``g`` computed in place in ``x`` with one op fewer."""
        return x.abs_().div_(-self.alpha).add_(1.0).clamp_min_(0.0), 1.0 / self.alpha


Surrogate = Sigmoid | ATan | Triangle

SURROGATES: dict[str, type] = {"sigmoid": Sigmoid, "atan": ATan, "triangle": Triangle}


def get_surrogate(name: str, alpha: float | None = None) -> Surrogate:
    """Surrogate by name; ``alpha`` overrides its sharpness/width parameter."""
    try:
        cls = SURROGATES[name]
    except KeyError:
        raise ConfigError(f"unknown surrogate '{name}'; choose one of {sorted(SURROGATES)}") from None
    return cls() if alpha is None else cls(alpha=float(alpha))


class SpikeFunction(torch.autograd.Function):
    """Heaviside ``x > 0`` forward, ``surrogate.grad(x)`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


def spike(x: Tensor, surrogate: Surrogate) -> Tensor:
    """Binary spikes ``(x > 0)`` with a surrogate gradient."""
    return SpikeFunction.apply(x, surrogate)
