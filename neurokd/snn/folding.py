"""Time folding: stateless layers run once on ``[T*B, ...]`` instead of T times on ``[B, ...]``; and the size of
the time chunks a folded network runs in when all T steps at once would make its activations too large.

Why chunk: folding makes every activation T times a step's size. Past glibc's mmap threshold (32 MiB at most)
each such tensor is mapped afresh and page-faulted on every allocation, and between two ops it has left the
CPU caches; a per-step loop (snnTorch) keeps its ``[B, ...]`` tensors under both limits. Chunks of
``chunk_steps`` steps keep the largest activation within :data:`CHUNK_BYTES` and fold as many steps as fit, so
small networks still run all steps at once (:mod:`neurokd.snn.chunked` runs a network chunk by chunk).
"""

from __future__ import annotations

from torch import Tensor, nn

CHUNK_BYTES = 16 << 20
"""Default activation budget of one time chunk (bytes of the largest layer output): half of glibc's largest
mmap threshold, so chunk tensors come from the reusable heap, and about what a core's share of a server L3 holds."""


def fold(x: Tensor) -> Tensor:
    """``[T, B, ...] -> [T*B, ...]``."""
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def unfold(x: Tensor, T: int) -> Tensor:
    """``[T*B, ...] -> [T, B, ...]``."""
    return x.reshape(T, x.shape[0] // T, *x.shape[1:])


def chunk_steps(T: int, step_bytes: int, budget: int = CHUNK_BYTES) -> int:
    """Time steps per chunk (1..T): as many as keep ``steps * step_bytes`` (one step's largest activation for
    the whole batch, bytes) within ``budget``, at least one."""
    if T < 1 or step_bytes < 0 or budget < 1:
        raise ValueError(f"chunk_steps needs T >= 1, step_bytes >= 0, budget >= 1; got {T}, {step_bytes}, {budget}")
    return max(1, min(T, budget // max(step_bytes, 1)))


def chunk_sizes(T: int, chunk: int) -> list[int]:
    """Steps of each chunk covering ``T`` steps in order, ``chunk`` steps each (the last may be shorter)."""
    if T < 1 or chunk < 1:
        raise ValueError(f"chunk_sizes needs T >= 1 and chunk >= 1, got {T}, {chunk}")
    return [min(chunk, T - t0) for t0 in range(0, T, chunk)]


class TimeFolded(nn.Module):
    """Apply a stateless ``module`` to every step of a ``[T, B, ...]`` sequence in one call."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        return unfold(self.module(fold(x)), x.shape[0])
