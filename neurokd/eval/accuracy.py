"""Classification accuracy and mean cross-entropy of a model over a loader."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    reduce: Callable[[Sequence[float]], list[float]] | None = None,
) -> dict:
    """``{"loss", "acc", "n"}``; ``acc`` is a fraction. The model is put in eval mode and restored after.

    ``reduce`` combines ``[loss_sum, correct, count]`` over processes when each one evaluates a shard of the
    data (``neurokd.train.distributed.all_sum``), so every process returns the whole split's numbers.
    """
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    try:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            total += y.numel()
    finally:
        model.train(was_training)
    if reduce is not None:
        loss_sum, correct, total = reduce([loss_sum, correct, total])
        correct, total = int(round(correct)), int(round(total))
    if total == 0:
        return {"loss": float("nan"), "acc": float("nan"), "n": 0}
    return {"loss": loss_sum / total, "acc": correct / total, "n": total}
