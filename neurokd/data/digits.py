"""scikit-learn's bundled 8x8 digits (1797 images, 10 classes): the embedded default dataset.

Pixels scaled to [0, 1], shape ``[1, 8, 8]``. Fixed, seeded, stratified split: 20% test (360 images), then
``val_fraction`` of the rest for validation.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neurokd.data.base import ArrayDataset, DataSplits, split_off

SPLIT_SEED = 0  # the split is part of the dataset definition, not of the run's seed


def load(val_fraction: float = 0.1) -> DataSplits:
    bunch = load_digits()
    x = (bunch.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    x_tr, x_va, y_tr, y_va = split_off(x_tr, y_tr, val_fraction, SPLIT_SEED)
    return DataSplits(
        "digits",
        ArrayDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
        ArrayDataset(torch.from_numpy(x_va), torch.from_numpy(y_va)),
        ArrayDataset(torch.from_numpy(x_te), torch.from_numpy(y_te)),
        num_classes=10,
        input_shape=[1, 8, 8],
    )

