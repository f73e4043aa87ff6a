"""Input encoders: static input ``[B, ...]`` to a time-major sequence ``[T, B, ...]``."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

EncoderName = Literal["direct", "poisson"]
ENCODERS: tuple[str, ...] = ("direct", "poisson")


def direct_encode(x: Tensor, T: int) -> Tensor:
    """Repeat the analog input at every step (the first layer acts as the encoder)."""
    return x.unsqueeze(0).expand(T, *x.shape)


def poisson_encode(x: Tensor, T: int, generator: torch.Generator | None = None) -> Tensor:
    """Bernoulli spikes with per-step probability ``clamp(x, 0, 1)`` (rate coding)."""
    p = x.clamp(0.0, 1.0).unsqueeze(0).expand(T, *x.shape)
    return torch.bernoulli(p, generator=generator)


def encode(x: Tensor, T: int, kind: EncoderName = "direct", generator: torch.Generator | None = None) -> Tensor:
    if kind == "direct":
        return direct_encode(x, T)
    if kind == "poisson":
        return poisson_encode(x, T, generator)
    raise ValueError(f"unknown encoder {kind!r}; choose one of {ENCODERS}")
