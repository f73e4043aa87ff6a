"""Dataset containers and the batch loader shared by every dataset.

In-memory datasets (digits, MNIST-1D, CIFAR) are :class:`ArrayDataset` and are batched by indexing, which is
far faster than a per-sample DataLoader for small inputs; file-backed datasets (image folders) go through a
``torch.utils.data.DataLoader``. Either way batches are ``(x float [B, ...], y long [B])``, shuffling and
augmentation draw from a generator seeded by ``(seed, epoch)``, so epochs are reproducible and resumable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

Augment = Callable[[Tensor, torch.Generator], Tensor]


@dataclass(frozen=True)
class Normalize:
    """Per-channel ``(x - mean) / std`` on ``[B, C, ...]``."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype).view(shape)
        return (x - mean) / std


class ArrayDataset(Dataset):
    """Samples held as tensors. ``x``: ``[N, ...]`` (float, or uint8 scaled by 1/255); ``y``: ``[N]`` long."""

    def __init__(self, x: Tensor, y: Tensor, normalize: Normalize | None = None):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        self.x, self.y, self.normalize = x, y.long(), normalize

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        x, y = self.get_batch(torch.tensor([i]))
        return x[0], y[0]

    def get_batch(self, idx: Tensor, augment: Augment | None = None, g: torch.Generator | None = None):
        x = to_float(self.x[idx])
        if augment is not None:
            x = augment(x, g)
        if self.normalize is not None:
            x = self.normalize(x)
        return x, self.y[idx]


def to_float(x: Tensor) -> Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@dataclass
class DataSplits:
    """Train/val/test splits plus what a model needs to know about the data."""

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    num_classes: int
    input_shape: list[int]
    normalize: Normalize | None = None
    time_bins: int | None = None  # event datasets: frames per sample (batches are [T, B, ...])


def split_off(x: np.ndarray, y: np.ndarray, fraction: float, seed: int = 0):
    """Seeded split of ``(x, y)`` into ``(x_keep, x_held, y_keep, y_held)``; stratified when every class allows."""
    if fraction <= 0 or len(y) < 2:
        return x, x[:0], y, y[:0]
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and round(len(y) * fraction) >= len(counts) else None
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=stratify)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class Loader:
    """Iterate ``(x, y)`` batches; ``set_epoch`` picks the epoch's shuffle order and augmentation draws."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        augment: Augment | None = None,
        num_workers: int = 0,
        drop_last: bool = False,
    ):
        self.dataset, self.batch_size, self.shuffle, self.seed = dataset, batch_size, shuffle, seed
        self.augment, self.num_workers, self.drop_last = augment, num_workers, drop_last
        self.epoch = 0
        self.rank, self.world, self.by_batch = 0, 1, True

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self, rank: int, world: int, by_batch: bool) -> None:
        """Yield only process ``rank``'s part of the data (of ``world`` processes; torch.distributed).

        ``by_batch`` (training): ``batch_size`` is the *global* batch; every global batch is cut into ``world``
        contiguous slices and rank ``r`` gets the ``r``-th, so the processes together step through exactly the
        batches one process would. In-memory datasets even draw the same augmentations (each rank augments the
        global batch and keeps its slice); file-backed ones augment their own slice. A last global batch with
        fewer samples than processes is skipped (a rank would get none). Otherwise (evaluation) the dataset is
        cut into ``world`` contiguous parts, each batched on its own, so every sample is seen exactly once.
        """
        self.rank, self.world, self.by_batch = rank, world, by_batch

    def _global_batches(self, order: Tensor) -> list[Tensor]:
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.world > 1 and self.by_batch and batches and len(batches[-1]) < self.world:
            batches.pop()
        return batches

    def _part(self, idx: Tensor) -> Tensor:
        n, r, w = len(idx), self.rank, self.world
        return idx[r * n // w : (r + 1) * n // w]

    def __len__(self) -> int:
        if self.world > 1 and not self.by_batch:
            n = len(self._part(torch.arange(len(self.dataset))))
            return -(-n // self.batch_size)
        n = len(self.dataset)
        full, rest = divmod(n, self.batch_size)
        if self.drop_last or (self.world > 1 and 0 < rest < self.world):
            return full
        return full + (rest > 0)

    def global_batch_sizes(self) -> list[int]:
        """Samples in each global batch of an epoch, in order (``len(self)`` entries when sharded by batch)."""
        n = len(self.dataset)
        return [min(self.batch_size, n - i) for i in range(0, n, self.batch_size)][: len(self)]

    def _order(self, g: torch.Generator) -> Tensor:
        n = len(self.dataset)
        return torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        g = epoch_generator(self.seed, self.epoch)
        order = self._order(g)
        sharded = self.world > 1
        if sharded and not self.by_batch:
            order = self._part(order)
        batches = self._global_batches(order)
        if isinstance(self.dataset, ArrayDataset):
            for idx in batches:
                if sharded and self.by_batch and self.augment is not None:
                    # augment the global batch so the generator's draws match a single process, keep our slice
                    x, y = self.dataset.get_batch(idx, self.augment, g)
                    lo, hi = self.rank * len(idx) // self.world, (self.rank + 1) * len(idx) // self.world
                    yield x[lo:hi], y[lo:hi]
                else:
                    yield self.dataset.get_batch(self._part(idx) if sharded and self.by_batch else idx, self.augment, g)
            return
        if sharded and self.by_batch:
            batches = [self._part(b) for b in batches]
            if self.augment is not None:
                g = epoch_generator(self.seed * 7919 + self.rank, self.epoch)  # per-rank augmentation draws
        normalize = getattr(self.dataset, "normalize", None)
        loader = DataLoader(self.dataset, batch_sampler=[b.tolist() for b in batches], num_workers=self.num_workers)
        for x, y in loader:
            x = to_float(x)
            if self.augment is not None:
                x = self.augment(x, g)
            if normalize is not None:
                x = normalize(x)
            yield x, y.long()



@dataclass
class Split:
    """One split of a dataset as evaluation and export read it: in order, unaugmented, evaluation batches."""

    name: str  # "train", "val" or "test"
    data: DataSplits
    loader: Loader

    @property
    def dataset(self) -> Dataset:
        return self.loader.dataset

    def tensors(self, limit: int | None = None) -> tuple[Tensor, Tensor]:
        """``(x, y)`` of the first ``limit`` samples (all when None); event data is time-major, ``x [T, N, ...]``."""
        axis = 1 if self.data.time_bins else 0  # the sample axis
        xs, ys, n = [], [], 0
        for x, y in self.loader:
            xs.append(x)
            ys.append(y)
            n += len(y)
            if limit is not None and n >= limit:
                break
        x, y = torch.cat(xs, axis), torch.cat(ys)
        if limit is None:
            return x, y
        return x.narrow(axis, 0, min(limit, x.shape[axis])), y[:limit]

