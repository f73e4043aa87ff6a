"""One training loop for ANN teachers and SNN students.

``run_training(cfg, ...)`` trains ``cfg.model`` on ``cfg.data`` under an :class:`Objective` (plain CE by
default; distillation methods plug in their own), writing the run folder:

    <out_dir>/<name>/config.yaml        effective configuration
                     metrics.jsonl      one JSON line per epoch
                     checkpoints/       epoch_NNNN.safetensors (atomic; the last ``keep_checkpoints`` kept)
                     model.safetensors  final weights + spec (loadable on its own)
                     model.json         the spec, for people
                     summary.json       final metrics

Each epoch ends with an atomic checkpoint holding model, objective modules, optimizer, scheduler and RNG
state; ``resume=True`` restarts from the newest readable one and reproduces the uninterrupted run exactly on
CPU (shuffling and augmentation are seeded per epoch).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from tqdm import tqdm

from neurokd.config import RunConfig, parse_dataclass
from neurokd.data import DataSplits, load_dataset, make_loaders
from neurokd.errors import CheckpointError, UserError
from neurokd.eval.accuracy import evaluate
from neurokd.io import atomic_open, write_json, write_yaml
from neurokd.models import TwinNet, build_model, count_parameters
from neurokd.train.checkpoint import (
    checkpoint_path,
    list_checkpoints,
    read_checkpoint,
    save_checkpoint,
    save_model_file,
)
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
    dev = torch.device(name)
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
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
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
    if splits.time_bins is not None and spec.kind == "snn" and spec.T != splits.time_bins:
        raise UserError(f"config key 'data.time_bins': {splits.time_bins} event frames per sample but the SNN runs "
                        f"model.T={spec.T}; set them equal (or leave data.time_bins unset to follow model.T)")
    return spec


def _uses_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def prepare_run_dir(cfg: RunConfig, resume: bool, overwrite: bool) -> Path:
    run_dir = cfg.run_dir
    if resume:
        if not run_dir.is_dir():
            raise UserError(f"cannot resume: run folder {run_dir} does not exist; start it without --resume")
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise UserError(
                f"run folder {run_dir} already exists; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --name"
            )
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
    except yaml.YAMLError:
        raise UserError(f"run folder {run_dir}: config.yaml is not valid YAML") from None
    return parse_dataclass(RunConfig, data or {})


def effective_config(cfg: RunConfig, resume: bool) -> RunConfig:
    """``cfg``, or for a resumed run the config saved in its folder (only ``train.progress`` is the caller's)."""
    if not resume:
        return cfg
    saved = load_saved_config(cfg.run_dir)
    saved.train.progress = cfg.train.progress
    return saved


def _latest_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """Newest checkpoint that reads cleanly (a damaged newest one falls back to the previous)."""
    for _epoch, path in reversed(list_checkpoints(run_dir)):
        try:
            return read_checkpoint(path)
        except CheckpointError as e:
            print(f"neurokd: skipping unreadable checkpoint: {e}", file=sys.stderr)
    return None


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
    """Train, checkpoint every epoch, evaluate on the test split and write the run folder."""
    cfg = effective_config(cfg, resume)
    if objective is None and cfg.distill.method != "none":
        raise UserError(
            f"config key 'distill.method': {cfg.distill.method} needs its teacher; run it with `neurokd distill` "
            "(neurokd teacher/train optimise cross-entropy only)"
        )
    configure_torch(cfg)
    splits = splits or load_dataset(cfg.data, cfg.seed, T=cfg.model.T)
    spec = model_spec_for(cfg, splits)
    cfg.model = spec
    device = resolve_device(cfg.train.device)

    seed_everything(cfg.seed)
    model = model or build_model(spec)
    objective = objective or Objective()
    objective.set_backprop(cfg.train.backprop, cfg.train.rate_chunk)
    model.to(device)
    objective.to(device)
    channels_last = cfg.train.channels_last and _uses_conv2d(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    train_loader, val_loader, test_loader = make_loaders(splits, cfg.data, cfg.seed)
    if len(train_loader) == 0:
        raise UserError(f"dataset '{splits.name}': the training split is empty")
    optimizer = build_optimizer([model, objective], cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.optim, len(train_loader))
    use_amp = cfg.train.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    run_dir = prepare_run_dir(cfg, resume, overwrite)
    metrics_path = run_dir / "metrics.jsonl"
    start_epoch = 1
    train_seconds = 0.0
    if resume:
        ckpt = _latest_checkpoint(run_dir)
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            if ckpt["objective"]:
                objective.load_state_dict(ckpt["objective"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scheduler.load_state_dict(ckpt["scheduler"])
            if ckpt["scaler"]:
                scaler.load_state_dict(ckpt["scaler"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            for i in range(torch.cuda.device_count()):
                if f"cuda.{i}" in ckpt["rng"]:
                    torch.cuda.set_rng_state(ckpt["rng"][f"cuda.{i}"], i)
            start_epoch = ckpt["epoch"] + 1
            _truncate_metrics(metrics_path, ckpt["epoch"])
            train_seconds = _recorded_train_seconds(metrics_path)
        else:
            _truncate_metrics(metrics_path, 0)
    write_yaml(run_dir / "config.yaml", cfg.to_dict())
    write_json(run_dir / "model.json", spec.to_dict())

    epochs = cfg.optim.epochs
    best_val = max((r.get("val_acc", 0.0) for r in _read_metrics(metrics_path)), default=0.0)
    memory = PeakMemory(device).start()  # this session's epochs (a resumed run: the epochs after the resume)
    for epoch in range(start_epoch, epochs + 1):
        t0 = time.perf_counter()
        train_loader.set_epoch(epoch)
        objective.start_epoch(epoch, epochs)
        model.train()
        objective.train()
        loss_sum, correct, seen = 0.0, 0, 0
        parts_sum: dict[str, float] = {}
        bar = tqdm(
            train_loader, desc=f"{cfg.name} {epoch}/{epochs}", leave=False, disable=not cfg.train.progress,
            file=sys.stderr, dynamic_ncols=True,
        )
        for x, y in bar:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, enabled=use_amp):
                out = objective(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(out.loss).backward()
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
        val = evaluate(model, val_loader, device, channels_last) if len(splits.val) else {"loss": None, "acc": None}
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
        if val["acc"] is not None:
            best_val = max(best_val, val["acc"])
        if cfg.train.progress:
            va = "-" if val["acc"] is None else f"{val['acc']:.4f}"
            tqdm.write(
                f"[{cfg.name}] epoch {epoch}/{epochs}  loss {record['train_loss']:.4f}  "
                f"train_acc {record['train_acc']:.4f}  val_acc {va}  ({epoch_s:.1f}s)",
                file=sys.stderr,
            )
        # metrics line first: a crash before the checkpoint lands makes resume redo this epoch and drop the line
        _append_metrics(metrics_path, record)
        if epoch % cfg.train.checkpoint_every == 0 or epoch == epochs:
            save_checkpoint(
                checkpoint_path(run_dir, epoch), model=model, spec=spec.to_dict(), config=cfg.to_dict(),
                epoch=epoch, optimizer=optimizer, scheduler=scheduler,
                objective_state=objective.state_dict(), scaler_state=scaler.state_dict() if use_amp else None,
            )
            _prune_checkpoints(run_dir, cfg.train.keep_checkpoints)

    peak_mem_mb = memory.stop()
    test = evaluate(model, test_loader, device, channels_last)
    model.to(memory_format=torch.contiguous_format)
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
        "best_val_acc": best_val if len(splits.val) else None,
        "params": count_parameters(model),
        "train_seconds": round(train_seconds, 3),
        "peak_mem_mb": peak_mem_mb,
        "device": str(device),
        **(summary_extra or {}),
    }
    write_json(run_dir / "summary.json", summary)
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


def _recorded_train_seconds(path: Path) -> float:
    return sum(r.get("epoch_s", 0.0) for r in _read_metrics(path))
