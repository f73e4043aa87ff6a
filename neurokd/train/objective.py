"""Training objectives: what one training step optimises.

An objective is an ``nn.Module``: modules it owns (e.g. feature-KD adapters) are trained together with the
model, saved in checkpoints so a resumed run continues exactly, and dropped when training ends. The plain
objective is cross-entropy on the model's logits (SNN: time-mean logits).

How an SNN's gradient is computed is the config's ``train.backprop``, which the training loop hands to
:meth:`Objective.set_backprop` before training: ``bptt`` runs the model normally (backprop through time),
``rate`` runs :func:`neurokd.snn.ratebp.rate_forward` (:meth:`Objective.rate_forward`), whose logits have the
same value and a rate-pass graph that does not grow with T. Objectives call :meth:`uses_rate` to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn

from neurokd.snn.ratebp import DEFAULT_CHUNK, rate_forward

BACKPROPS: tuple[str, ...] = ("bptt", "rate")


@dataclass
class StepOutput:
    loss: Tensor
    logits: Tensor  # [B, K], used for training accuracy
    parts: dict[str, float] = field(default_factory=dict)  # named loss terms for the log


class Objective(nn.Module):
    """Cross-entropy on the model's logits. Subclasses override :meth:`forward` and may add modules."""

    name = "ce"
    backprop = "bptt"
    rate_chunk = DEFAULT_CHUNK

    def set_backprop(self, backprop: str, rate_chunk: int = DEFAULT_CHUNK) -> None:
        """Use ``backprop`` (``bptt`` or ``rate``) for SNN students; subclasses reject what they cannot train
        with a ConfigError naming ``train.backprop``."""
        if backprop not in BACKPROPS:
            raise ValueError(f"backprop must be one of {BACKPROPS}, got {backprop!r}")
        self.backprop = backprop
        self.rate_chunk = rate_chunk

    def uses_rate(self, model: nn.Module) -> bool:
        """Whether ``model`` trains with rate-BP (an SNN twin under ``train.backprop rate``)."""
        return self.backprop == "rate" and getattr(model, "is_snn", False)

    def rate_forward(self, model: nn.Module, x: Tensor, taps: Sequence[str] = ()) -> tuple[Tensor, dict[str, Tensor]]:
        """:func:`~neurokd.snn.ratebp.rate_forward` with the configured ``train.rate_chunk``."""
        return rate_forward(model, x, taps, chunk=self.rate_chunk)  # type: ignore[arg-type]

    def forward(self, model: nn.Module, x: Tensor, y: Tensor) -> StepOutput:  # type: ignore[override]
        logits = self.rate_forward(model, x)[0] if self.uses_rate(model) else model(x)
        return StepOutput(F.cross_entropy(logits, y), logits)

    def start_epoch(self, epoch: int, epochs: int) -> None:
        """Called before each training epoch (1-based), e.g. for schedules over epochs."""

    def describe(self) -> dict:
        """What to record about this objective in the run summary."""
        return {"method": self.name}
