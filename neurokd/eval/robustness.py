"""Robustness suite: accuracy of several models under input corruptions of increasing severity.

Every model sees the *same* corrupted inputs: each (corruption, severity) corrupts the test set once, from a
generator seeded by ``(seed, corruption, severity, chunk)``, and all models are evaluated on that one tensor.

Corruptions act on normalised input batches ``[B, C, H, W]`` (images) or ``[B, C, L]`` (1-D signals). Scales
come from the clean test set (global mean / std / min / max), so one severity list serves digits, MNIST-1D and
CIFAR alike. Images / signals:

- ``gaussian``: ``x + s·std·N(0, 1)``; s = noise sigma in units of the data's std. Same for signals.
- ``salt_pepper``: a fraction s of the values set to the data's min or max (half each). Same for signals.
- ``rotation`` (images): each sample rotated by ±s degrees (random sign), bilinear, background = data min.
  ``shift`` (signals, the 1-D analogue): each signal moved by ±s samples (random sign), edge values repeated.
- ``clutter`` (images): background pixels (within 10% of the range above the min) replaced by a smooth random
  pattern of amplitude s·(max − min) (a 3x3 uniform grid upsampled bilinearly; MNIST-back-rand-like, but
  structured). Signals: a smooth random curve (6 knots, linear) of amplitude s·std added everywhere.
- ``occlusion``: a square (images) / window (signals) of side s·size at a random position set to 0 (the
  background of [0, 1] images, the mean of standardised data), like cutout.
- ``contrast``: ``m + s·(x − m)`` with m the sample's mean; s is the remaining contrast (1 = clean).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurokd.data.base import Loader
from neurokd.progress import bar

ROBUSTNESS_BATCH = 500  # samples per model call


@dataclass(frozen=True)
class DataStats:
    """Global statistics of the clean inputs, the scale corruptions are expressed in."""

    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, x: Tensor) -> DataStats:
        x = x.double()
        return cls(x.mean().item(), x.std().item(), x.min().item(), x.max().item())


CorruptFn = Callable[[Tensor, float, torch.Generator, DataStats], Tensor]


@dataclass(frozen=True)
class Corruption:
    name: str
    fn: CorruptFn
    severities: tuple[float, ...]
    unit: str  # what a severity value means

    def __call__(self, x: Tensor, severity: float, g: torch.Generator, stats: DataStats) -> Tensor:
        return self.fn(x, severity, g, stats)


# ------------------------------------------------------------------------------------ corruption functions

def gaussian_noise(x: Tensor, sigma: float, g: torch.Generator, stats: DataStats) -> Tensor:
    return x + sigma * stats.std * torch.randn(x.shape, generator=g, dtype=x.dtype)


def salt_and_pepper(x: Tensor, fraction: float, g: torch.Generator, stats: DataStats) -> Tensor:
    u = torch.rand(x.shape, generator=g, dtype=x.dtype)
    out = x.clone()
    out[u < fraction / 2] = stats.min
    out[(u >= fraction / 2) & (u < fraction)] = stats.max
    return out


def _random_signs(n: int, g: torch.Generator) -> Tensor:
    return torch.randint(0, 2, (n,), generator=g).double() * 2 - 1


def rotate(x: Tensor, degrees: float, g: torch.Generator, stats: DataStats) -> Tensor:
    """Images ``[B, C, H, W]`` rotated by ±degrees about the centre; uncovered corners get the data minimum."""
    theta = _random_signs(x.shape[0], g) * math.radians(degrees)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zeros = torch.zeros_like(cos)
    affine = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(affine.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x - stats.min, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + stats.min


def shift(x: Tensor, samples: float, g: torch.Generator, stats: DataStats) -> Tensor:
    """Signals ``[B, C, L]`` moved by ±samples along L; the vacated end repeats the edge value."""
    k = int(round(samples))
    signs = _random_signs(x.shape[0], g)
    L = x.shape[-1]
    idx = torch.arange(L).view(1, L) - (signs.long() * k).view(-1, 1)
    idx = idx.clamp(0, L - 1).unsqueeze(1).expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, idx)


def _smooth_field(shape: tuple[int, ...], knots: tuple[int, ...], g: torch.Generator, dtype) -> Tensor:
    """Uniform [0, 1] values on a coarse grid, upsampled (bilinear / linear) to ``shape[2:]``."""
    coarse = torch.rand((shape[0], shape[1], *knots), generator=g, dtype=dtype)
    mode = "bilinear" if len(knots) == 2 else "linear"
    return F.interpolate(coarse, size=shape[2:], mode=mode, align_corners=True)


def clutter(x: Tensor, amplitude: float, g: torch.Generator, stats: DataStats) -> Tensor:
    if x.ndim == 4:
        field = _smooth_field(tuple(x.shape), (3, 3), g, x.dtype)
        span = stats.max - stats.min
        background = x <= stats.min + 0.1 * span
        return torch.where(background, stats.min + amplitude * span * field, x)
    field = _smooth_field(tuple(x.shape), (6,), g, x.dtype) * 2 - 1
    return x + amplitude * stats.std * field


def occlusion(x: Tensor, fraction: float, g: torch.Generator, stats: DataStats) -> Tensor:
    """A square (images) or window (signals) of side ``fraction`` x size, fully inside, set to 0."""
    B = x.shape[0]
    mask = torch.zeros((B, 1, *x.shape[2:]), dtype=torch.bool)
    sizes = [max(1, int(round(fraction * n))) for n in x.shape[2:]]
    starts = [torch.randint(0, n - s + 1, (B,), generator=g) for n, s in zip(x.shape[2:], sizes)]
    for i in range(B):
        region = tuple(slice(int(st[i]), int(st[i]) + s) for st, s in zip(starts, sizes))
        mask[(i, 0, *region)] = True
    return x.masked_fill(mask, 0.0)


def contrast(x: Tensor, factor: float, g: torch.Generator, stats: DataStats) -> Tensor:
    m = x.flatten(1).mean(1).view(-1, *([1] * (x.ndim - 1)))
    return m + factor * (x - m)


def default_corruptions(input_shape: list[int] | tuple[int, ...]) -> list[Corruption]:
    """The suite for images ``[C, H, W]`` or 1-D signals ``[C, L]`` (rotation becomes shift)."""
    image = len(input_shape) == 3
    geometric = (Corruption("rotation", rotate, (10, 20, 30, 45), "degrees") if image
                 else Corruption("shift", shift, (2, 4, 6, 8), "samples"))
    return [
        Corruption("gaussian", gaussian_noise, (0.1, 0.2, 0.3, 0.5, 0.75), "sigma / data std"),
        Corruption("salt_pepper", salt_and_pepper, (0.01, 0.02, 0.05, 0.1), "fraction of values"),
        geometric,
        Corruption("clutter", clutter, (0.25, 0.5, 0.75, 1.0),
                   "amplitude / data range" if image else "amplitude / data std"),
        Corruption("occlusion", occlusion, (0.2, 0.3, 0.4, 0.5), "side / input size"),
        Corruption("contrast", contrast, (0.8, 0.6, 0.4, 0.2), "contrast kept"),
    ]


# -------------------------------------------------------------------------------------------- evaluation

def _collect(dataset, batch_size: int) -> tuple[Tensor, Tensor]:
    xs, ys = zip(*Loader(dataset, batch_size))
    return torch.cat(xs), torch.cat(ys)


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
    return correct / max(1, len(y))


def corrupt_dataset(x: Tensor, corruption: Corruption, level: int, seed: int, index: int, stats: DataStats,
                    chunk: int = 1024) -> Tensor:
    """The whole input tensor under one corruption severity; chunks draw from their own seeded generators."""
    severity = corruption.severities[level]
    out = []
    for c, i in enumerate(range(0, len(x), chunk)):
        g = torch.Generator().manual_seed(((seed * 1009 + index) * 1009 + level) * 100_003 + c)
        out.append(corruption(x[i : i + chunk], severity, g, stats))
    return torch.cat(out)


def evaluate_robustness(
    models: dict[str, nn.Module],
    dataset,
    corruptions: list[Corruption],
    seed: int = 0,
    batch_size: int = ROBUSTNESS_BATCH,
    progress: bool = True,
) -> dict[str, Any]:
    """``{"seed", "corruptions": {name: {"severities", "unit"}}, "clean": {model: acc},
    "acc": {corruption: {model: [acc per severity]}}}`` with accuracies as fractions."""
    x, y = _collect(dataset, batch_size)
    stats = DataStats.of(x)
    for m in models.values():
        m.eval()
    result: dict[str, Any] = {
        "seed": seed,
        "n": len(y),
        "data_stats": stats.__dict__,
        "corruptions": {c.name: {"severities": list(c.severities), "unit": c.unit} for c in corruptions},
        "clean": {name: _accuracy(m, x, y, batch_size) for name, m in models.items()},
        "acc": {c.name: {name: [] for name in models} for c in corruptions},
    }
    total = sum(len(c.severities) for c in corruptions)
    with bar(total=total, desc="robustness", enabled=progress) as pbar:
        for index, c in enumerate(corruptions):
            for level in range(len(c.severities)):
                xc = corrupt_dataset(x, c, level, seed, index, stats)
                for name, m in models.items():
                    result["acc"][c.name][name].append(_accuracy(m, xc, y, batch_size))
                pbar.update(1)
    return result


def aggregate_seeds(result: dict[str, Any], groups: dict[str, list[str]]) -> dict[str, Any]:
    """Mean (and std) over the models of each group, e.g. the seeds of one method."""
    def mean_std(vals: list[float]) -> tuple[float, float]:
        m = sum(vals) / len(vals)
        return m, (sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0

    out: dict[str, Any] = {k: result[k] for k in ("seed", "n", "data_stats", "corruptions")}
    out["groups"] = groups
    out["clean"], out["clean_std"], out["acc"], out["acc_std"] = {}, {}, {}, {}
    for g, members in groups.items():
        out["clean"][g], out["clean_std"][g] = mean_std([result["clean"][m] for m in members])
    for c, per_model in result["acc"].items():
        out["acc"][c], out["acc_std"][c] = {}, {}
        for g, members in groups.items():
            levels = list(zip(*(per_model[m] for m in members)))
            stats = [mean_std(list(v)) for v in levels]
            out["acc"][c][g] = [s[0] for s in stats]
            out["acc_std"][c][g] = [s[1] for s in stats]
    return out


def mean_corrupted_accuracy(result: dict[str, Any], model: str) -> float:
    """Mean accuracy over every corruption and severity (one number per model)."""
    vals = [a for per_model in result["acc"].values() for a in per_model[model]]
    return sum(vals) / len(vals)


def robustness_markdown(result: dict[str, Any]) -> str:
    """Rows: clean, every (corruption, severity), and the mean over all corruptions; columns: models (%)."""
    from neurokd.tables import markdown_table

    names = list(result["clean"])
    rows: list[list[Any]] = [["clean", "-", *[f"{100 * result['clean'][n]:.2f}" for n in names]]]
    for c, info in result["corruptions"].items():
        for level, sev in enumerate(info["severities"]):
            rows.append([c, f"{sev:g}", *[f"{100 * result['acc'][c][n][level]:.2f}" for n in names]])
    rows.append(["mean corrupted", "all", *[f"{100 * mean_corrupted_accuracy(result, n):.2f}" for n in names]])
    return markdown_table(["corruption", "severity", *[f"{n} acc %" for n in names]], rows)


def save_robustness_plot(result: dict[str, Any], path, title: str = "accuracy vs corruption severity") -> None:
    """Write :func:`robustness_figure` as a PNG (atomically)."""
    from neurokd.plotting import save_png

    save_png(robustness_figure(result, title), path, dpi=110)


def robustness_figure(result: dict[str, Any], title: str = "accuracy vs corruption severity"):
    """One panel per corruption: accuracy against severity level (0 = clean), one line per model."""
    from neurokd.plotting import new_figure

    corruptions = list(result["corruptions"])
    cols = 3
    rows = -(-len(corruptions) // cols)
    fig = new_figure(figsize=(4.2 * cols, 3.3 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, c in zip(axes.flat, corruptions):
        sev = result["corruptions"][c]["severities"]
        levels = list(range(len(sev) + 1))
        for name in result["clean"]:
            acc = [result["clean"][name], *result["acc"][c][name]]
            ax.plot(levels, [100 * a for a in acc], marker="o", ms=3, label=name)
        ax.set_xticks(levels, ["clean", *[f"{s:g}" for s in sev]])
        ax.set_title(f"{c} ({result['corruptions'][c]['unit']})", fontsize=9)
        ax.set_ylabel("accuracy %")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(corruptions):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * ((len(labels) - 1) // 5), 1, 0.97))
    return fig


__all__ = [
    "ROBUSTNESS_BATCH", "Corruption", "DataStats", "aggregate_seeds", "clutter", "contrast", "corrupt_dataset", "default_corruptions",
    "evaluate_robustness", "gaussian_noise", "mean_corrupted_accuracy", "occlusion", "robustness_markdown",
    "robustness_figure", "rotate", "salt_and_pepper", "save_robustness_plot", "shift",
]
