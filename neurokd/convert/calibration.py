"""What conversion reads from a dataset: calibration batches and the input's scale."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from neurokd.data import DataSplits


def calibration_batches(splits: DataSplits, samples: int, batch_size: int) -> Iterator[Tensor]:
    """The first ``samples`` training inputs in the split's fixed order (no augmentation), ``batch_size`` at a
    time, as the ANN takes them (``[B, ...]``, or ``[T, B, ...]`` event frames)."""
    n = min(int(samples), len(splits.train))
    for start in range(0, n, batch_size):
        yield splits.train.get_batch(torch.arange(start, min(n, start + batch_size)))[0]


def input_scale(splits: DataSplits) -> float:
    """ANN input units per SNN input unit: 1, or for event data the number of frames (the ANN sees the sum of the
    frames the SNN gets one per step)."""
    return float(splits.time_bins) if splits.time_bins else 1.0
