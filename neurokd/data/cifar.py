"""CIFAR-10/100 from the official python-pickle batches in a local folder.

Expected files (as extracted from ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``):
``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch}`` and ``<root>/cifar-100-python/{train, test}``
(the sub-folder may also be ``root`` itself). The batches are pickles; they are read with a restricted
unpickler that only rebuilds dicts, lists, strings, bytes and numpy arrays, so a tampered file cannot run code.
With ``download=True`` the archive is fetched from the official URL and its MD5 verified before extraction.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from neurokd.data.base import ArrayDataset, DataSplits, Normalize, split_off
from neurokd.errors import DatasetError
from neurokd.io import open_regular
from neurokd.limits import check_memory

SOURCES = {
    "cifar10": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "label_key": b"labels",
        "classes": 10,
        "mean": (0.4914, 0.4822, 0.4465),
        "std": (0.2470, 0.2435, 0.2616),
    },
    "cifar100": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "label_key": b"fine_labels",
        "classes": 100,
        "mean": (0.5071, 0.4865, 0.4409),
        "std": (0.2673, 0.2564, 0.2762),
    },
}

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden global {module}.{name}")


def read_batch(path: Path) -> dict:
    """Read one CIFAR batch file safely; malformed or tampered files raise DatasetError."""
    with open_regular(path, "CIFAR batch", DatasetError) as fh:
        # the arrays it rebuilds hold the file's bytes (a CIFAR-10 batch: 30 MiB)
        check_memory(2 * os.fstat(fh.fileno()).st_size, f"CIFAR batch {path}", "is it the right file?")
        try:
            data = _RestrictedUnpickler(fh, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError,
                RecursionError) as e:
            raise DatasetError(f"CIFAR batch {path}: not a valid CIFAR python batch ({e})") from None
    if not isinstance(data, dict) or b"data" not in data:
        raise DatasetError(f"CIFAR batch {path}: missing the 'data' entry; is this a CIFAR python batch?")
    return data


def _find_folder(root: Path, folder: str) -> Path:
    return root / folder if (root / folder).is_dir() else root


def _load_split(folder: Path, files: list[str], src: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in files:
        d = read_batch(folder / f)
        if src["label_key"] not in d:
            raise DatasetError(f"CIFAR batch {folder / f}: missing labels {src['label_key'].decode()!r} for {name}")
        x = np.asarray(d[b"data"], dtype=np.uint8)
        if x.ndim != 2 or x.shape[1] != 3072:
            raise DatasetError(f"CIFAR batch {folder / f}: data must be N x 3072 uint8, got shape {x.shape}")
        y = np.asarray(d[src["label_key"]], dtype=np.int64)
        if len(y) != len(x):
            raise DatasetError(f"CIFAR batch {folder / f}: {len(x)} images but {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= src["classes"]):
            raise DatasetError(f"CIFAR batch {folder / f}: labels outside 0..{src['classes'] - 1}")
        xs.append(x.reshape(-1, 3, 32, 32))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def download(name: str, root: Path) -> None:
    """Fetch and verify (MD5) the official archive, then extract it into ``root``."""
    src = SOURCES[name]
    root.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(src["url"], timeout=60) as r:
            blob = r.read()
    except OSError as e:
        raise DatasetError(
            f"dataset '{name}': download from {src['url']} failed ({e}); download it elsewhere and extract it into {root}"
        ) from None
    digest = hashlib.md5(blob).hexdigest()
    if digest != src["md5"]:
        raise DatasetError(f"dataset '{name}': downloaded archive has MD5 {digest}, expected {src['md5']}")
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(root, filter="data")


def load(name: str, root: str | None, val_fraction: float = 0.1, download_missing: bool = False) -> DataSplits:
    src = SOURCES[name]
    if root is None:
        raise DatasetError(f"dataset '{name}': set data.root to the folder that holds {src['folder']}/")
    base = Path(root)
    folder = _find_folder(base, src["folder"])
    missing = [f for f in src["train"] + src["test"] if not (folder / f).is_file()]
    if missing and download_missing:
        download(name, base)
        folder = _find_folder(base, src["folder"])
        missing = [f for f in src["train"] + src["test"] if not (folder / f).is_file()]
    if missing:
        raise DatasetError(
            f"dataset '{name}': missing {', '.join(missing)} in {folder}; extract {src['url'].rsplit('/', 1)[-1]} "
            f"into {base} (giving {base / src['folder']}/) or set data.download: true"
        )
    x_tr, y_tr = _load_split(folder, src["train"], src, name)
    x_te, y_te = _load_split(folder, src["test"], src, name)
    x_tr, x_va, y_tr, y_va = split_off(x_tr, y_tr, val_fraction)
    norm = Normalize(src["mean"], src["std"])
    t = torch.from_numpy
    return DataSplits(
        name,
        ArrayDataset(t(np.ascontiguousarray(x_tr)), t(y_tr), norm),
        ArrayDataset(t(np.ascontiguousarray(x_va)), t(y_va), norm),
        ArrayDataset(t(np.ascontiguousarray(x_te)), t(y_te), norm),
        num_classes=src["classes"],
        input_shape=[3, 32, 32],
        normalize=norm,
    )
