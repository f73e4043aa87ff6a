"""Training-mode BatchNorm statistics of a batch that may be split over processes.

``reduce`` sums a tensor over the processes that hold parts of the batch (identity for one process). Both users
normalise with these statistics themselves: rate-based backprop's spike pass (no gradients, float64 statistics)
and :class:`neurokd.train.distributed.DistBatchNorm` (gradients flow through a differentiable ``reduce``).
:class:`PooledMoments` merges the statistics of a batch that arrives in parts (time chunks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

Reduce = Callable[[Tensor], Tensor]


def uses_batch_stats(bn: nn.Module) -> bool:
    """Whether a BatchNorm normalises with the statistics of its input (training mode, or no running stats)."""
    return bn.training or bn.running_mean is None


def channel_shape(x: Tensor) -> list[int]:
    """``[1, C, 1, ...]``: a per-channel vector broadcast against ``x [N, C, ...]``."""
    return [1, -1] + [1] * (x.ndim - 2)


def global_batch_stats(x: Tensor, reduce: Reduce, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """Per-channel ``(mean [C], biased variance [C], count [1])`` of ``x [N, C, ...]`` over the whole batch, in
    ``dtype``. Two passes (sum, then squared deviations from the global mean): as numerically tame as local BN."""
    dims = [0, *range(2, x.ndim)]
    xd = x.to(dtype)
    n = reduce(torch.tensor([float(x.numel() // x.shape[1])], dtype=dtype, device=x.device))
    mean = reduce(xd.sum(dims)) / n
    var = reduce((xd - mean.view(channel_shape(x))).square().sum(dims)) / n
    return mean, var, n


def normalize(x: Tensor, mean: Tensor, var: Tensor, bn: nn.Module) -> Tensor:
    """``bn``'s affine map of ``x`` normalised with ``mean``/``var`` (cast to ``x``'s dtype)."""
    shape = channel_shape(x)
    y = (x - mean.to(x.dtype).view(shape)) * torch.rsqrt(var + bn.eps).to(x.dtype).view(shape)
    if bn.weight is not None:
        y = y * bn.weight.view(shape)
    if bn.bias is not None:
        y = y + bn.bias.view(shape)
    return y


@dataclass
class PooledMoments:
    """Exact per-channel mean and biased variance of all samples added so far, merged part by part with Chan et
    al.'s pairwise update (no second pass over the data; float64 keeps the merge exact to rounding)."""

    n: int = 0
    mean: Tensor | None = None
    m2: Tensor | None = None

    def add(self, mean_b: Tensor, var_b: Tensor, nb: int) -> None:
        """Merge a part of ``nb`` samples per channel with mean ``mean_b`` and biased variance ``var_b``."""
        if self.mean is None:
            self.n, self.mean, self.m2 = nb, mean_b, var_b * nb
            return
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + var_b * nb + delta.square() * (self.n * nb / n)
        self.n = n

    @property
    def var(self) -> Tensor:
        return self.m2 / self.n


@torch.no_grad()
def update_running_stats(bn: nn.Module, mean: Tensor, var: Tensor, n: float) -> None:
    """One running-statistics step of ``bn`` from a batch of ``n`` values per channel, as ``nn.BatchNorm`` does
    (running variance unbiased; cumulative average when ``momentum`` is None). No-op when it tracks none."""
    if not (bn.training and bn.track_running_stats and bn.running_mean is not None):
        return
    bn.num_batches_tracked.add_(1)
    m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
    unbiased = var * (n / max(n - 1, 1))
    bn.running_mean.mul_(1.0 - m).add_(mean.to(bn.running_mean.dtype), alpha=m)
    bn.running_var.mul_(1.0 - m).add_(unbiased.to(bn.running_var.dtype), alpha=m)


__all__ = [
    "PooledMoments", "channel_shape", "global_batch_stats", "normalize", "update_running_stats", "uses_batch_stats",
]
