"""Training objectives: what one training step optimises.

An objective is an ``nn.Module``: modules it owns (e.g. feature-KD adapters) are trained together with the
model, saved in checkpoints so a resumed run continues exactly, and dropped when training ends. The plain
objective is cross-entropy on the model's logits (SNN: time-mean logits, trained with BPTT).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class StepOutput:
    loss: Tensor
    logits: Tensor  # [B, K], used for training accuracy
    parts: dict[str, float] = field(default_factory=dict)  # named loss terms for the log


class Objective(nn.Module):
    """Cross-entropy on the model's logits. Subclasses override :meth:`forward` and may add modules."""

    name = "ce"

    def forward(self, model: nn.Module, x: Tensor, y: Tensor) -> StepOutput:  # type: ignore[override]
        logits = model(x)
        return StepOutput(F.cross_entropy(logits, y), logits)

    def start_epoch(self, epoch: int, epochs: int) -> None:
        """Called before each training epoch (1-based), e.g. for schedules over epochs."""

    def describe(self) -> dict:
        """What to record about this objective in the run summary."""
        return {"method": self.name}
