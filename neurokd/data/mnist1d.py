"""MNIST-1D (Greydanus 2020): 10 classes of length-40 signals, generated offline by the ``mnist1d`` package's
procedural generator with its published arguments (seed 42): 4000 train / 1000 test. ``val_fraction`` of the
train part is held out for validation. Shape ``[1, 40]``; the generator standardises the signals.
"""

from __future__ import annotations

import numpy as np
import torch

from neurokd.data.base import ArrayDataset, DataSplits, split_off
from neurokd.data.cache import cache_dir, cached_arrays

__all__ = ["cache_dir", "generate", "load"]

_KEYS = ("x", "y", "x_test", "y_test")


def generate(seed: int = 42) -> dict[str, np.ndarray]:
    """The MNIST-1D arrays (``x``, ``y``, ``x_test``, ``y_test``), generated offline by the ``mnist1d`` package.

    Generation takes a few seconds, so the arrays are cached as ``.npz`` (written atomically); a cache file that
    cannot be read is regenerated.
    """

    def make() -> dict[str, np.ndarray]:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.seed = seed
        np_state = np.random.get_state()  # make_dataset reseeds numpy's global RNG
        try:
            d = make_dataset(args)
        finally:
            np.random.set_state(np_state)
        return {k: np.asarray(d[k]) for k in _KEYS}

    return cached_arrays(f"mnist1d_seed{seed}", _KEYS, make)


def load(val_fraction: float = 0.1) -> DataSplits:
    d = generate()
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
