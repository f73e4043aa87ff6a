"""Each activation's scale ``lam``: the ANN value that one spike per step stands for after conversion.

- Threshold balancing (Rueckauer et al. 2017, data-based normalisation): a high percentile (99.9 by default) of
  the activation's *positive* outputs on training inputs, as their SNN toolbox computes it (numpy's linear
  percentile over nonzero activations). The maximum is too sensitive to outliers: a percentile clips a few rare
  activations and gives every other one more spikes.
- QCFS (Bu et al. 2022): the threshold the ANN learned for that layer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from neurokd.errors import ConfigError, UserError
from neurokd.models.qcfs import QCFS

MAX_VALUES = 1 << 22  # positive activations kept per layer for the percentile (a seeded subsample beyond that)


@torch.no_grad()
def percentile_scales(ann: nn.Module, activations: list[str], batches: Iterable[Tensor], percentile: float,
                      max_values: int = MAX_VALUES) -> dict[str, float]:
    """``{activation: percentile of its positive outputs}`` over ``batches`` (ANN inputs, run in eval mode).

    At most ``max_values`` values per layer and batch count toward the percentile (uniform seeded subsample of
    larger batches), so memory stays bounded for large feature maps. A layer that never outputs a positive
    value gets scale 1 (its neurons never fire either way).
    """
    if not 0 < percentile <= 100:
        raise ConfigError(f"config key 'convert.percentile': must be in (0, 100], got {percentile}")
    modules = dict(ann.named_modules())
    kept: dict[str, list[Tensor]] = {a: [] for a in activations}
    g = torch.Generator().manual_seed(0)

    def recorder(name: str):
        def hook(_m, _inp, out: Tensor) -> None:
            pos = out.detach().flatten()
            pos = pos[pos > 0].float().cpu()
            if pos.numel() > max_values:
                pos = pos[torch.randperm(pos.numel(), generator=g)[:max_values]]
            kept[name].append(pos)

        return hook

    handles = [modules[a].register_forward_hook(recorder(a)) for a in activations]
    was_training = ann.training
    ann.eval()
    try:
        for x in batches:
            ann(x)
    finally:
        for h in handles:
            h.remove()
        ann.train(was_training)
    out = {}
    for name, parts in kept.items():
        values = torch.cat(parts).numpy() if parts else np.empty(0, dtype=np.float32)
        out[name] = float(np.percentile(values.astype(np.float64), percentile)) if values.size else 1.0
    return out


def qcfs_scales(ann: nn.Module, activations: list[str]) -> dict[str, float]:
    """``{activation: its learned QCFS threshold}``; every activation must be a QCFS module with a positive one."""
    modules = dict(ann.named_modules())
    out = {}
    for name in activations:
        m = modules[name]
        if not isinstance(m, QCFS):
            raise UserError(f"cannot convert {name} ({type(m).__name__}) by qcfs: the teacher was not trained with "
                            "the QCFS activation (model.activation qcfs); use --method threshold-balance")
        lam = float(m.threshold.detach())
        if not lam > 0:
            raise UserError(f"cannot convert {name} by qcfs: its learned threshold is {lam:g}, not positive; "
                            "retrain the teacher")
        out[name] = lam
    return out
