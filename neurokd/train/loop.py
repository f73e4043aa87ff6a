"""One training loop for ANN teachers and SNN students.

``run_training(cfg, objective=...)`` trains ``cfg.model`` on ``cfg.data`` under an :class:`Objective` (plain CE by
default; distillation passes a builder that makes its own from the set-up run) and writes the run folder
(:class:`neurokd.runs.Run`). Set-up happens once (:func:`neurokd.train.setup.prepare_run`); each epoch trains
(:func:`neurokd.train.epoch.train_epoch`), validates, records and checkpoints.

Model selection is by validation only: on every epoch whose validation accuracy reaches the best so far (ties go
to the later epoch) the test split is scored too and recorded as that epoch's ``test_acc`` in ``metrics.jsonl``,
so ``summary.json`` reports the final epoch's test accuracy (``test_acc``) and the best-validation epoch's
(``best_val_epoch``, ``best_val_test_acc``) without ever choosing an epoch by its test score. That evaluation
runs outside ``train_seconds`` and on a forked RNG, so it changes neither the training nor its timing.

Each epoch ends with an atomic checkpoint holding model, objective modules, optimizer, scheduler and RNG
state; ``resume=True`` restarts from the newest readable one and reproduces the uninterrupted run exactly on
CPU (shuffling and augmentation are seeded per epoch). Under ``torchrun`` the same call runs in every process
(see :mod:`neurokd.train.distributed`): batches are sharded, the step runs under DDP, rank 0 writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurokd.config import RunConfig
from neurokd.data import DataSplits
from neurokd.data.preprocessing import input_preprocessing
from neurokd.errors import ConfigError, UserError
from neurokd.eval.accuracy import evaluate
from neurokd.models import TwinNet, count_parameters
from neurokd.progress import log
from neurokd.runs import Run, effective_config
from neurokd.runs.metrics import best_val_record, recorded_train_seconds
from neurokd.train import distributed as ddp
from neurokd.train.epoch import train_epoch
from neurokd.train.loggers import EpochLogger, open_loggers
from neurokd.train.memory import PeakMemory
from neurokd.train.objective import Objective
from neurokd.train.setup import RunSetup, build_configured_model, prepare_run, seed_everything
from neurokd.train.state import TrainState, build_state, restore_state, save_state

# What differs between runs: the objective, made from the set-up run (config, data, device, loaders). It returns
# the objective and what to add to the run's summary (e.g. the teacher's test accuracy).
ObjectiveBuilder = Callable[[RunSetup], tuple[Objective, dict[str, Any]]]


@dataclass
class TrainResult:
    run_dir: Path
    model: TwinNet
    summary: dict[str, Any]


@dataclass
class Selection:
    """Where the epochs stand: time spent, and the best-validation epoch so far."""

    train_seconds: float = 0.0
    best_val: float | None = None
    best_epoch: int | None = None
    best_test: float | None = None


def run_training(
    cfg: RunConfig,
    *,
    objective: ObjectiveBuilder | Objective | None = None,
    splits: DataSplits | None = None,
    model: TwinNet | Callable[[RunSetup], TwinNet] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    summary_extra: dict[str, Any] | None = None,
    changes: Iterable[str] = (),
) -> TrainResult:
    """Train, checkpoint every epoch, evaluate on the test split and write the run folder.

    ``objective``: an :class:`Objective`, or a builder called once with the :class:`RunSetup` (distillation
    builds its teacher-guided objective so). ``model``: the model, or a builder called once with the
    :class:`RunSetup` after the objective's (a distilled student may start as its converted teacher); default:
    the spec's twin with fresh weights. ``resume``: continue ``cfg``'s run folder from its saved config;
    ``changes`` names the dotted config keys the caller set on purpose, which a resume takes from ``cfg`` where
    allowed and refuses otherwise (:func:`neurokd.runs.effective_config`). Under torchrun (``WORLD_SIZE > 1``)
    every process calls this; they share the work (see :mod:`neurokd.train.distributed`) and rank 0 writes the run
    folder.
    """
    # the folder is this process's (rank 0's) from before its config is read until the run ends
    with Run.owned(cfg, resume, overwrite, owner=ddp.env_info().is_main) as run:
        cfg = effective_config(cfg, resume, changes)
        with ddp.distributed_session(cfg.train.device):
            setup = prepare_run(cfg, splits)
            objective, extra = _make_objective(setup, objective)
            seed_everything(cfg.seed)
            if model is None:
                model = build_configured_model(setup.spec)
            elif not isinstance(model, nn.Module):
                model = model(setup)
            model.time_chunk = cfg.train.time_chunk
            state = build_state(setup, model, objective)
            try:
                return _fit(run, setup, state, resume, {**extra, **(summary_extra or {})})
            finally:
                ddp.restore_bn(state.model)
                ddp.restore_bn(state.objective)


def _make_objective(setup: RunSetup, objective: ObjectiveBuilder | Objective | None) -> tuple[Objective, dict]:
    if isinstance(objective, Objective):
        return objective, {}
    if objective is not None:
        return objective(setup)
    if setup.cfg.distill.method != "none":
        raise UserError(
            f"config key 'distill.method': {setup.cfg.distill.method} needs its teacher; run it with `neurokd "
            "distill` (neurokd teacher/train optimise cross-entropy only)"
        )
    return Objective(), {}


def _fit(run: Run, setup: RunSetup, state: TrainState, resume: bool, extra: dict[str, Any]) -> TrainResult:
    """The epochs, checkpoints and final evaluation (rank 0 writes every file)."""
    if setup.main:
        run.ready(resume)  # the first change to the folder: set-up is done, so bad input has changed nothing
    ddp.barrier()
    start = _resume(run, setup, state) if resume else 1
    if setup.main:
        run.write_config(setup.cfg)
    ddp.barrier()
    selection = _selection(run, start)
    loggers = open_loggers(setup.cfg.train.log_to, run.folder) if setup.main else []
    try:
        memory = PeakMemory(setup.device).start()  # this session's epochs (resumed: the epochs after the resume)
        for epoch in range(start, setup.cfg.optim.epochs + 1):
            _epoch(run, setup, state, epoch, selection, loggers)
        return _finish(run, setup, state, selection, memory.stop(), extra)
    finally:
        for logger in loggers:
            logger.close()


def _resume(run: Run, setup: RunSetup, state: TrainState) -> int:
    """Restore the newest readable checkpoint (every process) and drop the metrics of the epochs after it (rank
    0); returns the first epoch to train."""
    ckpt = run.latest_checkpoint()
    done = 0 if ckpt is None else ckpt["epoch"]
    epochs = setup.cfg.optim.epochs
    if epochs < done:
        raise ConfigError(f"--resume: config key 'optim.epochs' is {epochs} but run {run.folder} has trained {done} "
                          f"epochs already; give --epochs {done} or more (more extends the run)")
    if ckpt is not None:
        restore_state(ckpt, setup, state)
    if setup.main:
        run.truncate_metrics(done)
    return done + 1


def _selection(run: Run, start: int) -> Selection:
    """The time spent and the best-validation epoch of the epochs before ``start`` (none for a fresh run)."""
    records = run.metrics() if start > 1 else []
    best = best_val_record(records)
    return Selection(recorded_train_seconds(records),
                     *((best["val_acc"], best["epoch"], best.get("test_acc")) if best else (None, None, None)))


def _epoch(run: Run, setup: RunSetup, state: TrainState, epoch: int, sel: Selection,
           loggers: list[EpochLogger]) -> None:
    """Train and validate one epoch, score the test split when validation is the best so far, then write the
    metrics line and the checkpoint."""
    t0 = time.perf_counter()
    sums = train_epoch(setup, state, epoch)
    val = (_evaluate(setup, state, setup.val_loader) if len(setup.splits.val) else {"loss": None, "acc": None})
    epoch_s = time.perf_counter() - t0
    sel.train_seconds += epoch_s
    record = {"epoch": epoch, "train_loss": sums.mean_loss, "train_acc": sums.accuracy, "val_loss": val["loss"],
              "val_acc": val["acc"], "lr": state.optimizer.param_groups[0]["lr"], "epoch_s": round(epoch_s, 3),
              **sums.part_means()}
    if val["acc"] is not None and (sel.best_val is None or val["acc"] >= sel.best_val):
        sel.best_val, sel.best_epoch = val["acc"], epoch
        with torch.random.fork_rng(devices=[setup.device] if setup.device.type == "cuda" else []):
            sel.best_test = _evaluate(setup, state, setup.test_loader)["acc"]
        record["test_acc"] = sel.best_test
    _log_epoch(setup, record, epoch_s)
    # metrics line first: a crash before the checkpoint lands makes resume redo this epoch and drop the line
    if setup.main:
        run.append_metrics(record)
        for logger in loggers:
            logger.log(record)
    if setup.main and (epoch % setup.cfg.train.checkpoint_every == 0 or epoch == setup.cfg.optim.epochs):
        save_state(run, setup, state, epoch)
    ddp.barrier()


def _evaluate(setup: RunSetup, state: TrainState, loader) -> dict[str, Any]:
    return evaluate(state.model, loader, setup.device, state.channels_last, setup.reduce)


def _log_epoch(setup: RunSetup, record: dict[str, Any], epoch_s: float) -> None:
    """One line per epoch on stderr, whatever ``train.progress`` says (it only turns the bars off)."""
    if not setup.main:
        return
    va = "-" if record["val_acc"] is None else f"{record['val_acc']:.4f}"
    log(f"[{setup.cfg.name}] epoch {record['epoch']}/{setup.cfg.optim.epochs}  loss {record['train_loss']:.4f}  "
        f"train_acc {record['train_acc']:.4f}  val_acc {va}  ({epoch_s:.1f}s)")


def _finish(run: Run, setup: RunSetup, state: TrainState, sel: Selection, peak_mem_mb: float | None,
            extra: dict[str, Any]) -> TrainResult:
    """Final test evaluation, model file and summary."""
    cfg, spec, model = setup.cfg, setup.spec, state.model
    test = _evaluate(setup, state, setup.test_loader)
    model.to(memory_format=torch.contiguous_format)
    if setup.main:
        run.save_model(model, spec.to_dict(), preprocessing=input_preprocessing(setup.splits, cfg.data))
    summary = {
        "name": cfg.name, "dataset": setup.splits.name, "arch": spec.arch, "kind": spec.kind,
        "T": spec.T if spec.kind == "snn" else None,
        "backprop": cfg.train.backprop if spec.kind == "snn" else "bp",
        **state.objective.describe(),
        "epochs": cfg.optim.epochs, "test_acc": test["acc"], "test_loss": test["loss"],
        "best_val_acc": sel.best_val, "best_val_epoch": sel.best_epoch, "best_val_test_acc": sel.best_test,
        "params": count_parameters(model), "train_seconds": round(sel.train_seconds, 3),
        "peak_mem_mb": peak_mem_mb, "device": str(setup.device),
        **({"processes": setup.info.world, "sync_bn": cfg.train.sync_bn} if setup.info.enabled else {}),
        **extra,
    }
    if setup.main:
        run.write_summary(summary)
    ddp.barrier()
    return TrainResult(run.folder, model, summary)
