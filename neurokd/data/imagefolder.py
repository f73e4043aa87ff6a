"""Class-per-folder image datasets read with Pillow.

Layouts: ``<root>/train/<class>/*.png`` with ``<root>/val/`` and/or ``<root>/test/`` beside it, or a flat
``<root>/<class>/*`` that is split (seeded, stratified) into 20% test and ``val_fraction`` validation. Images
are converted to RGB and, when ``image_size`` is set, resized to ``image_size x image_size``; otherwise they
must all share one size. Samples are loaded lazily (uint8 ``[3, H, W]``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import Dataset

from neurokd.data.base import DataSplits, Normalize, split_off
from neurokd.errors import DatasetError
from neurokd.io import open_regular
from neurokd.limits import check_count

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _scan(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[Path, int]]]:
    found = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    classes = classes or found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetError(f"image folder {folder}: classes {unknown} do not appear in the training split")
    samples = []
    for i, c in enumerate(classes):
        cdir = folder / c
        if not cdir.is_dir():
            continue
        samples += [(p, i) for p in sorted(cdir.rglob("*")) if p.suffix.lower() in EXTENSIONS and p.is_file()]
    return classes, samples


class ImageFolderDataset(Dataset):
    """``(uint8 [3, S, S], label)`` per image file."""

    def __init__(self, samples: list[tuple[Path, int]], size: tuple[int, int], resize: bool, normalize: Normalize):
        self.samples, self.size, self.resize, self.normalize = samples, size, resize, normalize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        path, label = self.samples[i]
        img = open_image(path)
        if self.resize:
            img = img.resize((self.size[1], self.size[0]), Image.BILINEAR)
        elif img.size != (self.size[1], self.size[0]):
            raise DatasetError(
                f"image {path}: size {img.size[0]}x{img.size[1]} differs from {self.size[1]}x{self.size[0]}; "
                "set data.image_size to resize all images"
            )
        arr = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
        return torch.from_numpy(arr), label


def open_image(path: Path) -> Image.Image:
    """The image at ``path`` as RGB. Its header's size is checked against the pixel limit before decoding
    (:mod:`neurokd.limits`): a PNG of a few KB can declare 30000x30000 pixels."""
    with open_regular(path, "image", DatasetError) as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides, in one line
        try:
            with Image.open(fh) as im:
                width, height = im.size
                check_count(width * height, "image_pixels", f"image {path}: {width}x{height} pixels",
                            "resize it, or remove it from the folder")
                return im.convert("RGB")
        except Image.DecompressionBombError as e:  # Pillow's own check, at twice its warning size
            raise DatasetError(f"image {path}: {e}; resize it, or remove it from the folder") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
            raise DatasetError(f"image {path}: cannot be decoded ({e.__class__.__name__}); remove or replace "
                               "it") from None


def load(root: str | None, val_fraction: float = 0.1, image_size: int | None = None, seed: int = 0) -> DataSplits:
    if root is None:
        raise DatasetError("dataset 'imagefolder': set data.root to a folder of <class>/<image> sub-folders")
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"dataset 'imagefolder': folder {base} does not exist; point data.root at your images")
    if (base / "train").is_dir():
        classes, train = _scan(base / "train")
        val = _scan(base / "val", classes)[1] if (base / "val").is_dir() else []
        test = _scan(base / "test", classes)[1] if (base / "test").is_dir() else []
        if not test and val:
            test = val
        if not val:
            train, val = _holdout(train, val_fraction, seed)
        if not test:
            raise DatasetError(f"dataset 'imagefolder': {base} has train/ but neither val/ nor test/")
    else:
        classes, samples = _scan(base)
        rest, test = _holdout(samples, 0.2, seed)
        train, val = _holdout(rest, val_fraction, seed)
    if len(classes) < 2 or not train:
        raise DatasetError(f"dataset 'imagefolder': {base} needs at least 2 class folders with images")
    first = open_image(train[0][0])
    size = (image_size, image_size) if image_size else (first.size[1], first.size[0])
    norm = Normalize(IMAGENET_MEAN, IMAGENET_STD)

    def make(s):
        return ImageFolderDataset(s, size, image_size is not None, norm)

    return DataSplits("imagefolder", make(train), make(val), make(test), len(classes), [3, *size], norm)


def _holdout(samples: list[tuple[Path, int]], fraction: float, seed: int):
    if not samples:
        return samples, []
    idx = np.arange(len(samples))
    labels = np.array([lbl for _, lbl in samples])
    keep, held, _, _ = split_off(idx, labels, fraction, seed)
    return [samples[i] for i in keep], [samples[i] for i in held]
