"""What a run trains and how: the model, the objective, the optimizer, the LR schedule, the loss scaler and the
precision, together (:class:`TrainState`); restored from and saved to the run folder's checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neurokd.errors import CheckpointError
from neurokd.models import TwinNet
from neurokd.runs import Run
from neurokd.runs.checkpoint import tensor_problem
from neurokd.train import distributed as ddp
from neurokd.train.objective import Objective
from neurokd.train.optim import build_optimizer, build_scheduler
from neurokd.train.setup import RunSetup


@dataclass
class TrainState:
    model: TwinNet
    objective: Objective
    step: nn.Module  # TrainStep(model, objective); DistributedDataParallel-wrapped under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    use_amp: bool  # CUDA fp16 with loss scaling
    autocast_dtype: torch.dtype | None  # fp16 (CUDA AMP) or bf16 (train.cpu_bf16); None: fp32
    channels_last: bool

    def autocast(self, device: torch.device):
        dtype = self.autocast_dtype
        return torch.autocast(device.type, dtype=dtype or torch.float16, enabled=dtype is not None)


def build_state(setup: RunSetup, model: TwinNet, objective: Objective) -> TrainState:
    """Move the model and objective to the device, convert BN under ``train.sync_bn``, build the optimizer over
    both, the schedule and the scaler, and the (DDP-wrapped) step."""
    cfg, device = setup.cfg, setup.device
    objective.set_backprop(cfg.train.backprop, cfg.train.rate_chunk)
    model.to(device)
    objective.to(device)
    channels_last = cfg.train.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules())
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if setup.info.enabled and cfg.train.sync_bn:
        ddp.convert_sync_bn(model, device)
        ddp.convert_sync_bn(objective, device)
    optimizer = build_optimizer([model, objective], cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, len(setup.train_loader))
    use_amp = cfg.train.amp and device.type == "cuda"
    # bf16 needs no loss scaling (fp32's exponent range), so the scaler stays CUDA-fp16 only
    use_bf16 = cfg.train.cpu_bf16 and device.type == "cpu"
    dtype = torch.float16 if use_amp else torch.bfloat16 if use_bf16 else None
    step: nn.Module = ddp.TrainStep(model, objective)
    if setup.info.enabled:
        step = ddp.wrap_ddp(step, device, cfg.train.ddp_find_unused)
    return TrainState(model, objective, step, optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=use_amp),
                      use_amp, dtype, channels_last)


def save_state(run: Run, setup: RunSetup, state: TrainState, epoch: int) -> None:
    """The epoch's checkpoint: everything :func:`restore_state` needs to continue exactly."""
    run.save_checkpoint(
        epoch, setup.cfg.train.keep_checkpoints, model=state.model, spec=setup.spec.to_dict(),
        config=setup.cfg.to_dict(), optimizer=state.optimizer, scheduler=state.scheduler,
        objective_state=state.objective.state_dict(),
        scaler_state=state.scaler.state_dict() if state.use_amp else None,
    )


def restore_state(ckpt: dict[str, Any], setup: RunSetup, state: TrainState) -> None:
    """Load a checkpoint's training state; one that does not fit this run is a CheckpointError."""
    where = f"checkpoint {ckpt.get('path', '')} (epoch {ckpt['epoch']})"
    if ckpt["spec"] != json.loads(json.dumps(setup.spec.to_dict())):
        raise CheckpointError(f"{where}: records another model spec than the run's config.yaml; remove it to "
                              "resume from an older one")
    for module, part in ((state.model, "model"), (state.objective, "objective")):
        expected = module.state_dict()
        for key, tensor in ckpt[part].items():
            why = tensor_problem(tensor, expected[key]) if key in expected else None
            if why:
                raise CheckpointError(f"{where}: tensor '{part}.{key}' {why}; remove it to resume from an older one")
    try:
        _load(ckpt, state)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{where}: does not fit this run's model/optimizer ({type(e).__name__}: "
                              f"{first[:160]}); remove it to resume from an older one") from None


def _load(ckpt: dict[str, Any], state: TrainState) -> None:
    state.model.load_state_dict(ckpt["model"])
    if ckpt["objective"]:
        state.objective.load_state_dict(ckpt["objective"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    for group in state.optimizer.param_groups:  # moment tensors must match their parameters
        for p in group["params"]:
            for key, value in state.optimizer.state.get(p, {}).items():
                if isinstance(value, torch.Tensor) and value.ndim and value.shape != p.shape:
                    raise ValueError(f"optimizer state '{key}' is {list(value.shape)} for a parameter "
                                     f"{list(p.shape)}")
    state.scheduler.load_state_dict(ckpt["scheduler"])
    # the LR of the next step under this run's schedule: the checkpoint's own for the same optim.epochs, the longer
    # schedule's when a resume extends the run (the schedule's lambda comes from the config, not the checkpoint)
    sched = state.scheduler
    for group, base, factor in zip(state.optimizer.param_groups, sched.base_lrs, sched.lr_lambdas):
        group["lr"] = base * factor(sched.last_epoch)
    if ckpt["scaler"]:
        state.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    for i in range(torch.cuda.device_count()):
        if f"cuda.{i}" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"][f"cuda.{i}"], i)
