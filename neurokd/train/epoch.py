"""One training epoch: every batch through the objective, the optimizer step, and the epoch's running sums."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from neurokd.progress import bar as progress_bar
from neurokd.train import distributed as ddp
from neurokd.train.setup import RunSetup
from neurokd.train.state import TrainState


@dataclass
class EpochSums:
    """Sums over an epoch's samples (all processes under torchrun, once :meth:`all_reduce` ran)."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    parts: dict[str, float] = field(default_factory=dict)  # named loss terms, summed per sample

    def add(self, loss: float, correct: int, n: int, parts: dict[str, float]) -> None:
        self.loss += loss * n
        self.correct += correct
        self.seen += n
        for k, v in parts.items():
            self.parts[k] = self.parts.get(k, 0.0) + v * n

    def all_reduce(self) -> None:
        keys = sorted(self.parts)
        loss, correct, seen, *parts = ddp.all_sum([self.loss, self.correct, self.seen,
                                                   *(self.parts[k] for k in keys)])
        self.loss, self.correct, self.seen = loss, int(round(correct)), int(round(seen))
        self.parts = dict(zip(keys, parts))

    @property
    def mean_loss(self) -> float:
        return self.loss / self.seen

    @property
    def accuracy(self) -> float:
        return self.correct / self.seen

    def part_means(self) -> dict[str, float]:
        """``train_<part>``: each named loss term's per-sample mean."""
        return {f"train_{k}": v / self.seen for k, v in self.parts.items()}


def train_epoch(setup: RunSetup, state: TrainState, epoch: int) -> EpochSums:
    """Train one epoch (1-based) and return its sums over every process's samples."""
    cfg, device, loader = setup.cfg, setup.device, setup.train_loader
    loader.set_epoch(epoch)
    state.objective.start_epoch(epoch, cfg.optim.epochs)
    state.model.train()
    state.objective.train()
    sums = EpochSums()
    bar = progress_bar(loader, desc=f"{cfg.name} {epoch}/{cfg.optim.epochs}",
                       enabled=cfg.train.progress and setup.main)
    batch_sizes = loader.global_batch_sizes()
    for i, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if state.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out = _forward(setup, state, x, y)
        loss = out.loss
        if setup.info.enabled:
            # DDP averages gradients over ranks; weighting each rank's batch-mean loss by its share of the global
            # batch makes that average the gradient of the global batch's mean loss (shards of a last, short batch
            # may differ by one sample)
            loss = loss * (y.shape[0] * setup.info.world / batch_sizes[i])
        _optimizer_step(setup, state, loss)
        sums.add(out.loss.item(), (out.logits.argmax(1) == y).sum().item(), y.numel(), out.parts)
        bar.set_postfix(loss=f"{sums.loss / sums.seen:.4f}", acc=f"{sums.correct / sums.seen:.3f}")
    bar.close()
    if setup.info.enabled:
        sums.all_reduce()
        ddp.broadcast_buffers(state.model)  # every rank evaluates (and rank 0 saves) rank 0's BN statistics
        ddp.broadcast_buffers(state.objective)
    return sums


def _forward(setup: RunSetup, state: TrainState, x: torch.Tensor, y: torch.Tensor):
    try:
        with state.autocast(setup.device):
            return state.step(x, y)
    except RuntimeError as e:
        hint = ddp.explain_ddp_error(e) if setup.info.enabled else None
        if hint is None:
            raise
        raise hint from None


def _optimizer_step(setup: RunSetup, state: TrainState, loss: torch.Tensor) -> None:
    optimizer, scaler = state.optimizer, state.scaler
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if setup.cfg.optim.grad_clip:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                       setup.cfg.optim.grad_clip)
    scaler.step(optimizer)
    scaler.update()
    state.scheduler.step()
