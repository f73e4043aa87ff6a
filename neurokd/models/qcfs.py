"""The quantization-clip-floor-shift activation (QCFS; Bu et al., ICLR 2022) for ANN twins trained to convert.

``h(x) = lam / L * clip(floor(x L / lam + 1/2), 0, L)``: ``L`` levels between 0 and a learnable threshold ``lam``
(one per layer). The floor passes its gradient straight through (STE), so ``lam`` learns from
``d h / d lam`` as in the authors' code (floor, then clip, then rescale). An IF neuron with threshold ``lam``,
subtract reset and initial membrane ``lam / 2`` fires ``L h(x) / lam`` spikes in ``L`` steps for a constant input
``x``: the ANN is the SNN's rate map at T = L, which is what makes the conversion (neurokd.convert) low-latency.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

THRESHOLD_INIT = 4.0  # the authors' initial lam (their MyFloor module)


def qcfs(x: Tensor, threshold: Tensor, levels: int) -> Tensor:
    """``threshold / L * clip(floor(x L / threshold + 1/2), 0, L)`` with a straight-through floor."""
    y = x / threshold * levels + 0.5
    y = y + (torch.floor(y) - y).detach()
    return (y / levels).clamp(0.0, 1.0) * threshold


class QCFS(nn.Module):
    """QCFS activation with ``levels`` quantization levels and a learnable threshold (parameter ``threshold``)."""

    def __init__(self, levels: int, threshold: float = THRESHOLD_INIT):
        super().__init__()
        if levels < 1:
            raise ValueError(f"QCFS needs at least 1 level, got {levels}")
        self.levels = int(levels)
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))

    def forward(self, x: Tensor) -> Tensor:
        return qcfs(x, self.threshold, self.levels)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()):.4g}"
