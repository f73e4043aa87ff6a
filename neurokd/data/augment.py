"""Batched training augmentations: small frozen transforms over pure tensor functions.

Own minimal set (random crop with zero padding, horizontal flip, cutout) rather than kornia: three short,
exact functions on ``[B, C, H, W]`` batches, driven by an explicit ``torch.Generator`` so every epoch is
reproducible and a resumed run draws the same augmentations; no extra dependency (kornia pulls in more than
we use). All randomness comes from the generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


def random_crop(x: Tensor, padding: int, g: torch.Generator) -> Tensor:
    """Zero-pad by ``padding`` and crop back to the original size at a random offset per sample."""
    if padding <= 0:
        return x
    B, _, H, W = x.shape
    xp = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (B,), generator=g).tolist()
    dx = torch.randint(0, 2 * padding + 1, (B,), generator=g).tolist()
    return torch.stack([xp[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W] for i in range(B)])


def horizontal_flip(x: Tensor, p: float, g: torch.Generator) -> Tensor:
    """Mirror the last axis of each sample with probability ``p``."""
    flip = torch.rand(x.shape[0], generator=g) < p
    out = x.clone()
    out[flip] = x[flip].flip(-1)
    return out


def cutout(x: Tensor, size: int, g: torch.Generator) -> Tensor:
    """Zero a ``size x size`` square (clipped at the border) at a random centre pixel of each sample."""
    B, _, H, W = x.shape
    y0 = (torch.randint(0, H, (B,), generator=g) - size // 2).view(B, 1, 1)
    x0 = (torch.randint(0, W, (B,), generator=g) - size // 2).view(B, 1, 1)
    ys = torch.arange(H).view(1, H, 1)
    xs = torch.arange(W).view(1, 1, W)
    inside = (ys >= y0) & (ys < y0 + size) & (xs >= x0) & (xs < x0 + size)
    return x.masked_fill(inside.unsqueeze(1), 0.0)


@dataclass(frozen=True)
class RandomCrop:
    padding: int = 4

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        return random_crop(x, self.padding, g)


@dataclass(frozen=True)
class HorizontalFlip:
    p: float = 0.5

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        return horizontal_flip(x, self.p, g)


@dataclass(frozen=True)
class Cutout:
    size: int = 8

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        return cutout(x, self.size, g)


@dataclass(frozen=True)
class Compose:
    transforms: tuple = ()

    def __call__(self, x: Tensor, g: torch.Generator) -> Tensor:
        for t in self.transforms:
            x = t(x, g)
        return x


def build_augment(names: list[str], image_hw: tuple[int, int]) -> Compose | None:
    """Augmentations by name, scaled to the image size (crop pad = H/8, cutout = H/2)."""
    if not names:
        return None
    h = image_hw[0]
    table = {
        "crop": RandomCrop(max(1, h // 8)),
        "flip": HorizontalFlip(0.5),
        "cutout": Cutout(max(1, h // 2)),
    }
    return Compose(tuple(table[n] for n in names))
