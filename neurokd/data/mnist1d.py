"""MNIST-1D (Greydanus 2020): 10 classes of length-40 signals, generated offline by the ``mnist1d`` package's
procedural generator with its published arguments (seed 42): by default 5000 signals, 4000 train / 1000 test.
``num_samples`` asks the same generator for more (its 80/20 train/test split: 50000 -> 40000 / 10000), so a
benchmark's test accuracy has a smaller standard error. ``val_fraction`` of the train part is held out for
validation. Shape ``[1, 40]``; the generator standardises the signals (over the whole set it generated).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from neurokd.data.base import ArrayDataset, DataSplits, split_off
from neurokd.data.cache import cache_dir, cached_arrays

__all__ = ["PUBLISHED_SAMPLES", "cache_dir", "generate", "load"]

_KEYS = ("x", "y", "x_test", "y_test")
PUBLISHED_SAMPLES = 5000  # the generator's default (get_dataset_args): the published 4000 / 1000 benchmark


def generate(seed: int = 42, num_samples: int = PUBLISHED_SAMPLES, progress: bool = False) -> dict[str, np.ndarray]:
    """The MNIST-1D arrays (``x``, ``y``, ``x_test``, ``y_test``) of ``num_samples`` signals, generated offline by
    the ``mnist1d`` package.

    Generation takes a few seconds per 5000 signals, so the arrays are cached as ``.npz`` per (seed, count)
    (written atomically); a cache file that cannot be read, or holds another count, is regenerated. ``progress``:
    one line on stderr while a count not yet cached is generated.
    """

    def make() -> dict[str, np.ndarray]:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.seed = seed
        args.num_samples = num_samples
        if progress and num_samples > PUBLISHED_SAMPLES:
            print(f"neurokd: generating MNIST-1D ({num_samples} signals, once: cached in {cache_dir()})",
                  file=sys.stderr)
        np_state = np.random.get_state()  # make_dataset reseeds numpy's global RNG
        try:
            d = make_dataset(args)
        finally:
            np.random.set_state(np_state)
        return {k: np.asarray(d[k]) for k in _KEYS}

    # the published set keeps its historical cache name, so existing caches stay valid
    name = f"mnist1d_seed{seed}" + ("" if num_samples == PUBLISHED_SAMPLES else f"_n{num_samples}")
    return cached_arrays(name, _KEYS, make, valid=lambda d: len(d["y"]) + len(d["y_test"]) == num_samples)


def load(val_fraction: float = 0.1, num_samples: int | None = None, progress: bool = False) -> DataSplits:
    """Train / val / test splits of ``num_samples`` generated signals (None: the published 5000)."""
    d = generate(num_samples=num_samples or PUBLISHED_SAMPLES, progress=progress)
    x_tr = d["x"].astype(np.float32)[:, None, :]
    x_te = d["x_test"].astype(np.float32)[:, None, :]
    y_tr, y_te = d["y"].astype(np.int64), d["y_test"].astype(np.int64)
    x_tr, x_va, y_tr, y_va = split_off(x_tr, y_tr, val_fraction)
    return DataSplits(
        "mnist1d",
        ArrayDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
        ArrayDataset(torch.from_numpy(x_va), torch.from_numpy(y_va)),
        ArrayDataset(torch.from_numpy(x_te), torch.from_numpy(y_te)),
        num_classes=10,
        input_shape=[1, 40],
    )
