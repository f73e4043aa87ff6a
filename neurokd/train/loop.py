"""One training loop for ANN teachers and SNN students.

``run_training(cfg, ...)`` trains ``cfg.model`` on ``cfg.data`` under an :class:`Objective` (plain CE by
default; distillation methods plug in their own), writing the run folder:

    <out_dir>/<name>/config.yaml        effective configuration
                     metrics.jsonl      one JSON line per epoch
                     checkpoints/       epoch_NNNN.safetensors (atomic; the last ``keep_checkpoints`` kept)
                     model.safetensors  final weights + spec (loadable on its own)
                     model.json         the spec, for people
                     summary.json       final metrics

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

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from tqdm import tqdm

from neurokd.config import RunConfig
from neurokd.configlib import parse_dataclass
from neurokd.data import DataSplits, Loader, load_dataset, make_loaders
from neurokd.errors import CheckpointError, ConfigError, UserError
from neurokd.eval.accuracy import evaluate
from neurokd.io import atomic_open, write_json, write_yaml
from neurokd.models import ModelSpec, TwinNet, build_model, count_parameters
from neurokd.runtime import apply_threads
from neurokd.train import distributed as ddp
from neurokd.train.checkpoint import (
    checkpoint_path,
    list_checkpoints,
    read_checkpoint,
    save_checkpoint,
    save_model_file,
    tensor_problem,
)
from neurokd.train.cpu_heap import reuse_heap_memory
from neurokd.train.memory import PeakMemory
from neurokd.train.objective import Objective
from neurokd.train.optim import build_optimizer, build_scheduler


@dataclass
class TrainResult:
    run_dir: Path
    model: TwinNet
    summary: dict[str, Any]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"config key 'train.device': {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"config key 'train.device': {name} requested but CUDA is not available; use cpu or auto")
    return dev


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_torch(cfg: RunConfig) -> None:
    if cfg.train.cpu_heap_reuse:
        reuse_heap_memory()  # process-wide and harmless on CUDA runs too; a no-op off glibc
    apply_threads(cfg.train.threads)  # train.threads, else torch's default capped at this process's CPUs
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def model_spec_for(cfg: RunConfig, splits: DataSplits):
    """The config's model spec completed with the dataset's class count and input shape."""
    spec = parse_dataclass(type(cfg.model), cfg.model.to_dict(), "model")
    if spec.num_classes is None:
        spec.num_classes = splits.num_classes
    elif spec.num_classes != splits.num_classes:
        raise UserError(
            f"config key 'model.num_classes': {spec.num_classes} but dataset '{splits.name}' has "
            f"{splits.num_classes} classes"
        )
    if spec.input_shape is None:
        spec.input_shape = list(splits.input_shape)
    elif list(spec.input_shape) != list(splits.input_shape):
        raise UserError(
            f"config key 'model.input_shape': {list(spec.input_shape)} but dataset '{splits.name}' gives "
            f"{list(splits.input_shape)}; leave it unset to follow the dataset"
        )
    if splits.time_bins is not None and spec.kind == "snn" and spec.T != splits.time_bins:
        raise UserError(f"config key 'data.time_bins': {splits.time_bins} event frames per sample but the SNN runs "
                        f"model.T={spec.T}; set them equal (or leave data.time_bins unset to follow model.T)")
    return spec


def check_time_bins(cfg: RunConfig) -> None:
    """Event data binned into ``data.time_bins`` frames feeds an SNN one frame per step: checked before the
    (possibly long) dataset load. :func:`model_spec_for` checks the loaded data again."""
    from neurokd.data.events import INFO

    bins = cfg.data.time_bins
    if bins is not None and cfg.data.name in INFO and cfg.model.kind == "snn" and bins != cfg.model.T:
        raise UserError(f"config key 'data.time_bins': {bins} event frames per sample but the SNN runs "
                        f"model.T={cfg.model.T}; set them equal (or leave data.time_bins unset to follow model.T)")


def build_configured_model(spec) -> TwinNet:
    """``build_model(spec)`` for a spec from the user's config: a spec it cannot build (an arch for another input
    rank, sizes that leave nothing to convolve) is a ConfigError naming ``model``, not a crash."""
    try:
        return build_model(spec)
    except (ValueError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"config key 'model': cannot build {spec.arch} for input {spec.input_shape} "
                          f"({first[:200]})") from None


def _uses_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def check_run_dir(cfg: RunConfig, resume: bool, overwrite: bool) -> Path:
    """The run folder ``out_dir/name`` after checking it may be used as asked (changes nothing).

    ``name`` is a single folder name (checked by :class:`RunConfig`); the folder itself may not be a symbolic
    link, which could point the run (and ``--overwrite``'s deletion) anywhere.
    """
    run_dir = cfg.run_dir
    _refuse_symlink(run_dir)
    if resume:
        if not run_dir.is_dir():
            raise UserError(f"cannot resume: run folder {run_dir} does not exist; start it without --resume")
        return run_dir
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} exists and is not a folder; choose another --name")
    if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
        raise UserError(
            f"run folder {run_dir} already exists; pass --resume to continue it, --overwrite to replace it, "
            "or choose another --name"
        )
    return run_dir


def _refuse_symlink(run_dir: Path) -> None:
    if run_dir.is_symlink():
        raise ConfigError(f"config key 'name': run folder {run_dir} is a symbolic link; neurokd writes only into "
                          "real folders under out_dir (remove the link or choose another --name)")


def prepare_run_dir(cfg: RunConfig, resume: bool, overwrite: bool) -> Path:
    """Check the run folder (:func:`check_run_dir`), then create it (emptied first with ``overwrite``)."""
    run_dir = check_run_dir(cfg, resume, overwrite)
    if resume:
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def load_saved_config(run_dir: Path) -> RunConfig:
    """The effective config stored in a run folder."""
    path = run_dir / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"run folder {run_dir}: no config.yaml; is this a neurokd run folder?") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise UserError(f"run folder {run_dir}: config.yaml is not valid YAML") from None
    except OSError as e:
        raise UserError(f"run folder {run_dir}: cannot read config.yaml ({e.strerror})") from None
    if data is not None and not isinstance(data, dict):
        raise UserError(f"run folder {run_dir}: config.yaml is not a mapping of config keys")
    return parse_dataclass(RunConfig, data or {})


def effective_config(cfg: RunConfig, resume: bool) -> RunConfig:
    """``cfg``, or for a resumed run the config saved in its folder (only ``train.progress`` and the folder's
    location, ``out_dir``/``name``, are the caller's)."""
    if not resume:
        return cfg
    _refuse_symlink(cfg.run_dir)
    saved = load_saved_config(cfg.run_dir)
    saved.train.progress = cfg.train.progress
    # the folder being resumed is where the run lives now (it may have been moved or copied): never the
    # out_dir/name recorded inside it, which would send the writes elsewhere
    saved.out_dir, saved.name = cfg.out_dir, cfg.name
    return saved


def _latest_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """Newest checkpoint that reads cleanly (a damaged newest one falls back to the previous); None when there
    is none yet. Checkpoints that exist but are all unreadable stop the resume rather than start over."""
    found = list_checkpoints(run_dir)
    errors = []
    for _epoch, path in reversed(found):
        try:
            return read_checkpoint(path)
        except CheckpointError as e:
            errors.append(str(e))
            print(f"neurokd: skipping unreadable checkpoint: {e}", file=sys.stderr)
    if found:
        raise CheckpointError(f"cannot resume {run_dir}: none of its {len(found)} checkpoints is readable "
                              f"({errors[0]}); start over with --overwrite")
    return None


def _restore(ckpt: dict[str, Any], spec, model, objective, optimizer, scheduler, scaler) -> None:
    """Load a checkpoint's training state; one that does not fit this run is a CheckpointError."""
    where = f"checkpoint {ckpt.get('path', '')} (epoch {ckpt['epoch']})"
    if ckpt["spec"] != json.loads(json.dumps(spec.to_dict())):
        raise CheckpointError(f"{where}: records another model spec than the run's config.yaml; remove it to "
                              "resume from an older one")
    for module, part in ((model, "model"), (objective, "objective")):
        expected = module.state_dict()
        for key, tensor in ckpt[part].items():
            why = tensor_problem(tensor, expected[key]) if key in expected else None
            if why:
                raise CheckpointError(f"{where}: tensor '{part}.{key}' {why}; remove it to resume from an older one")
    try:
        model.load_state_dict(ckpt["model"])
        if ckpt["objective"]:
            objective.load_state_dict(ckpt["objective"])
        optimizer.load_state_dict(ckpt["optimizer"])
        for group in optimizer.param_groups:  # moment tensors must match their parameters
            for p in group["params"]:
                for key, value in optimizer.state.get(p, {}).items():
                    if isinstance(value, torch.Tensor) and value.ndim and value.shape != p.shape:
                        raise ValueError(f"optimizer state '{key}' is {list(value.shape)} for a parameter "
                                         f"{list(p.shape)}")
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt["scaler"]:
            scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        for i in range(torch.cuda.device_count()):
            if f"cuda.{i}" in ckpt["rng"]:
                torch.cuda.set_rng_state(ckpt["rng"][f"cuda.{i}"], i)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{where}: does not fit this run's model/optimizer ({type(e).__name__}: "
                              f"{first[:160]}); remove it to resume from an older one") from None


def _truncate_metrics(path: Path, upto_epoch: int) -> None:
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        if rec.get("epoch", 0) <= upto_epoch:
            keep.append(line)
    with atomic_open(path) as fh:
        fh.write("".join(line + "\n" for line in keep))


def _append_metrics(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _prune_checkpoints(run_dir: Path, keep: int) -> None:
    for _epoch, path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)


def run_training(
    cfg: RunConfig,
    *,
    objective: Objective | None = None,
    splits: DataSplits | None = None,
    model: TwinNet | None = None,
    resume: bool = False,
    overwrite: bool = False,
    summary_extra: dict[str, Any] | None = None,
) -> TrainResult:
    """Train, checkpoint every epoch, evaluate on the test split and write the run folder.

    Under torchrun (``WORLD_SIZE > 1``) every process calls this; they share the work (see
    :mod:`neurokd.train.distributed`) and rank 0 writes the run folder.
    """
    cfg = effective_config(cfg, resume)
    with ddp.distributed_session(cfg.train.device):
        return _train(cfg, objective, splits, model, resume, overwrite, summary_extra)


def _train(
    cfg: RunConfig,
    objective: Objective | None,
    splits: DataSplits | None,
    model: TwinNet | None,
    resume: bool,
    overwrite: bool,
    summary_extra: dict[str, Any] | None,
) -> TrainResult:
    info = ddp.current()
    if objective is None and cfg.distill.method != "none":
        raise UserError(
            f"config key 'distill.method': {cfg.distill.method} needs its teacher; run it with `neurokd distill` "
            "(neurokd teacher/train optimise cross-entropy only)"
        )
    configure_torch(cfg)
    check_time_bins(cfg)
    splits = splits or load_dataset(cfg.data, cfg.seed, T=cfg.model.T, progress=cfg.train.progress)
    spec = model_spec_for(cfg, splits)
    cfg.model = spec
    device = resolve_device(ddp.process_device(cfg.train.device, info))
    if info.enabled:
        ddp.check_batch_size(cfg.data.batch_size, info.world)

    seed_everything(cfg.seed)
    model = model or build_configured_model(spec)
    model.time_chunk = cfg.train.time_chunk
    objective = objective or Objective()
    objective.set_backprop(cfg.train.backprop, cfg.train.rate_chunk)
    model.to(device)
    objective.to(device)
    channels_last = cfg.train.channels_last and _uses_conv2d(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    train_loader, val_loader, test_loader = make_loaders(splits, cfg.data, cfg.seed)
    reduce = None
    if info.enabled:
        train_loader.shard(info.rank, info.world, by_batch=True)
        val_loader.shard(info.rank, info.world, by_batch=False)
        test_loader.shard(info.rank, info.world, by_batch=False)
        reduce = ddp.all_sum
    if len(train_loader) == 0:
        raise UserError(f"dataset '{splits.name}': the training split is empty")
    if info.enabled and cfg.train.sync_bn:
        ddp.convert_sync_bn(model, device)
        ddp.convert_sync_bn(objective, device)
    optimizer = build_optimizer([model, objective], cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, len(train_loader))
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    # what one step runs: the objective on the model; under torchrun wrapped in DDP (model + objective modules)
    step: nn.Module = ddp.TrainStep(model, objective)
    if info.enabled:
        step = ddp.wrap_ddp(step, device, cfg.train.ddp_find_unused)
    setup = _Setup(cfg, info, spec, splits, model, objective, step, optimizer, scheduler, scaler, use_amp, device,
                   channels_last, (train_loader, val_loader, test_loader), reduce)
    try:
        return _fit(setup, resume, overwrite, summary_extra)
    finally:
        ddp.restore_bn(model)
        ddp.restore_bn(objective)


@dataclass
class _Setup:
    """What one training run works with, as :func:`_train` builds it."""

    cfg: RunConfig
    info: ddp.DistInfo
    spec: ModelSpec
    splits: DataSplits
    model: TwinNet
    objective: Objective
    step: nn.Module  # TrainStep(model, objective); DistributedDataParallel-wrapped under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    use_amp: bool
    device: torch.device
    channels_last: bool
    loaders: tuple[Loader, Loader, Loader]  # train (sharded by global batch), val, test (sharded by part)
    reduce: Callable[[Sequence[float]], list[float]] | None  # sums evaluation counts over processes


def _fit(setup: _Setup, resume: bool, overwrite: bool, summary_extra: dict[str, Any] | None) -> TrainResult:
    """The epochs, checkpoints and final evaluation of :func:`run_training` (rank 0 writes every file)."""
    cfg, main = setup.cfg, setup.info.is_main
    check_run_dir(cfg, resume, overwrite)  # on every rank, so a refusal stops them all alike
    ddp.barrier()  # ... and before rank 0 changes anything
    run_dir = prepare_run_dir(cfg, resume, overwrite) if main else cfg.run_dir
    ddp.barrier()
    try:
        return _epochs(setup, resume, summary_extra, run_dir)
    except UserError:
        # bad input found only once training ran (e.g. a corrupt sample file): a fresh run folder with nothing
        # worth keeping (no checkpoint yet) is removed, so no half-made run is left behind
        if main and not resume and not list_checkpoints(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _epochs(setup: _Setup, resume: bool, summary_extra: dict[str, Any] | None, run_dir: Path) -> TrainResult:
    cfg, info, spec, splits, model, objective, step = (setup.cfg, setup.info, setup.spec, setup.splits, setup.model,
                                                       setup.objective, setup.step)
    optimizer, scheduler, scaler, use_amp = setup.optimizer, setup.scheduler, setup.scaler, setup.use_amp
    # bf16 needs no loss scaling (fp32's exponent range), so the scaler stays CUDA-fp16 only
    use_bf16 = cfg.train.cpu_bf16 and setup.device.type == "cpu"
    autocast_dtype = torch.bfloat16 if use_bf16 else torch.float16
    device, channels_last, reduce = setup.device, setup.channels_last, setup.reduce
    main = info.is_main
    train_loader, val_loader, test_loader = setup.loaders
    metrics_path = run_dir / "metrics.jsonl"
    start_epoch = 1
    train_seconds = 0.0
    if resume:
        if main:  # temporary files of writes a crash cut short (never renamed into place): drop them
            for tmp in [*run_dir.glob(".*.tmp"), *run_dir.glob("checkpoints/.*.tmp")]:
                tmp.unlink(missing_ok=True)
        ckpt = _latest_checkpoint(run_dir)
        if ckpt is not None:
            _restore(ckpt, spec, model, objective, optimizer, scheduler, scaler)
            start_epoch = ckpt["epoch"] + 1
            if main:
                _truncate_metrics(metrics_path, ckpt["epoch"])
            train_seconds = _recorded_train_seconds(metrics_path)
        elif main:
            _truncate_metrics(metrics_path, 0)
    if main:
        write_yaml(run_dir / "config.yaml", cfg.to_dict())
        write_json(run_dir / "model.json", spec.to_dict())
    ddp.barrier()

    epochs = cfg.optim.epochs
    best = best_val_record(_read_metrics(metrics_path))  # a resumed run: its epochs so far
    best_val = best["val_acc"] if best else None
    best_epoch, best_test = (best["epoch"], best.get("test_acc")) if best else (None, None)
    memory = PeakMemory(device).start()  # this session's epochs (a resumed run: the epochs after the resume)
    for epoch in range(start_epoch, epochs + 1):
        t0 = time.perf_counter()
        train_loader.set_epoch(epoch)
        objective.start_epoch(epoch, epochs)
        model.train()
        objective.train()
        loss_sum, correct, seen = 0.0, 0, 0
        parts_sum: dict[str, float] = {}
        show = cfg.train.progress and main
        bar = tqdm(
            train_loader, desc=f"{cfg.name} {epoch}/{epochs}", leave=False, disable=not show,
            file=sys.stderr, dynamic_ncols=True,
        )
        batch_sizes = train_loader.global_batch_sizes()
        for i, (x, y) in enumerate(bar):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            try:
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_amp or use_bf16):
                    out = step(x, y)
            except RuntimeError as e:
                hint = ddp.explain_ddp_error(e) if info.enabled else None
                if hint is None:
                    raise
                raise hint from None
            loss = out.loss
            if info.enabled:
                # DDP averages gradients over ranks; weighting each rank's batch-mean loss by its share of the
                # global batch makes that average the gradient of the global batch's mean loss (shards of a
                # last, short batch may differ by one sample)
                loss = loss * (y.shape[0] * info.world / batch_sizes[i])
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.optim.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                               cfg.optim.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            n = y.numel()
            loss_sum += out.loss.item() * n
            correct += (out.logits.argmax(1) == y).sum().item()
            seen += n
            for k, v in out.parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + v * n
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        bar.close()
        if info.enabled:
            keys = sorted(parts_sum)
            loss_sum, correct, seen, *parts = ddp.all_sum([loss_sum, correct, seen, *(parts_sum[k] for k in keys)])
            correct, seen = int(round(correct)), int(round(seen))
            parts_sum = dict(zip(keys, parts))
            ddp.broadcast_buffers(model)  # every rank evaluates (and rank 0 saves) rank 0's BN statistics
            ddp.broadcast_buffers(objective)
        val = (evaluate(model, val_loader, device, channels_last, reduce) if len(splits.val)
               else {"loss": None, "acc": None})
        epoch_s = time.perf_counter() - t0
        train_seconds += epoch_s
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "val_loss": val["loss"],
            "val_acc": val["acc"],
            "lr": optimizer.param_groups[0]["lr"],
            "epoch_s": round(epoch_s, 3),
            **{f"train_{k}": v / seen for k, v in parts_sum.items()},
        }
        if val["acc"] is not None and (best_val is None or val["acc"] >= best_val):
            best_val, best_epoch = val["acc"], epoch
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                best_test = evaluate(model, test_loader, device, channels_last, reduce)["acc"]
            record["test_acc"] = best_test
        if show:
            va = "-" if val["acc"] is None else f"{val['acc']:.4f}"
            tqdm.write(
                f"[{cfg.name}] epoch {epoch}/{epochs}  loss {record['train_loss']:.4f}  "
                f"train_acc {record['train_acc']:.4f}  val_acc {va}  ({epoch_s:.1f}s)",
                file=sys.stderr,
            )
        # metrics line first: a crash before the checkpoint lands makes resume redo this epoch and drop the line
        if main:
            _append_metrics(metrics_path, record)
        if main and (epoch % cfg.train.checkpoint_every == 0 or epoch == epochs):
            save_checkpoint(
                checkpoint_path(run_dir, epoch), model=model, spec=spec.to_dict(), config=cfg.to_dict(),
                epoch=epoch, optimizer=optimizer, scheduler=scheduler,
                objective_state=objective.state_dict(), scaler_state=scaler.state_dict() if use_amp else None,
            )
            _prune_checkpoints(run_dir, cfg.train.keep_checkpoints)
        ddp.barrier()

    peak_mem_mb = memory.stop()
    test = evaluate(model, test_loader, device, channels_last, reduce)
    model.to(memory_format=torch.contiguous_format)
    if main:
        save_model_file(run_dir / "model.safetensors", model, spec.to_dict())
    summary = {
        "name": cfg.name,
        "dataset": splits.name,
        "arch": spec.arch,
        "kind": spec.kind,
        "T": spec.T if spec.kind == "snn" else None,
        "backprop": cfg.train.backprop if spec.kind == "snn" else "bp",
        **objective.describe(),
        "epochs": epochs,
        "test_acc": test["acc"],
        "test_loss": test["loss"],
        "best_val_acc": best_val,
        "best_val_epoch": best_epoch,
        "best_val_test_acc": best_test,
        "params": count_parameters(model),
        "train_seconds": round(train_seconds, 3),
        "peak_mem_mb": peak_mem_mb,
        "device": str(device),
        **({"processes": info.world, "sync_bn": cfg.train.sync_bn} if info.enabled else {}),
        **(summary_extra or {}),
    }
    if main:
        write_json(run_dir / "summary.json", summary)
    ddp.barrier()
    return TrainResult(run_dir, model, summary)


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def best_val_record(records: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch record the run selects: the highest ``val_acc``, the later epoch on ties (None without a
    validation split)."""
    best = None
    for r in records:
        if r.get("val_acc") is not None and (best is None or r["val_acc"] >= best["val_acc"]):
            best = r
    return best


def _recorded_train_seconds(path: Path) -> float:
    return sum(r.get("epoch_s", 0.0) for r in _read_metrics(path))
