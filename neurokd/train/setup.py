"""Set-up of one training run, done once: torch settings, the dataset, the completed model spec, the device and
the loaders (sharded under torchrun). :func:`prepare_run` builds a :class:`RunSetup`; the training loop and the
objective builders (e.g. distillation's) read it instead of resolving any of it again."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neurokd.config import RunConfig
from neurokd.configlib import parse_dataclass
from neurokd.data import EVENT_DATASETS, DataSplits, Loader, load_dataset, make_loaders
from neurokd.errors import ConfigError, UserError
from neurokd.guard import check_training
from neurokd.models import ModelSpec, TwinNet, build_model
from neurokd.runtime import apply_threads
from neurokd.train import distributed as ddp
from neurokd.train.cpu_heap import reuse_heap_memory


@dataclass
class RunSetup:
    """What one run trains with, resolved once per run (and per process under torchrun)."""

    cfg: RunConfig  # the effective config; ``cfg.model`` completed with the data's classes and input shape
    info: ddp.DistInfo
    splits: DataSplits
    device: torch.device
    train_loader: Loader  # shuffled, augmented; sharded by global batch under torchrun
    val_loader: Loader  # in order; sharded by part
    test_loader: Loader
    reduce: Callable[[Sequence[float]], list[float]] | None  # sums evaluation counts over processes

    @property
    def spec(self) -> ModelSpec:
        return self.cfg.model

    @property
    def main(self) -> bool:
        return self.info.is_main


def prepare_run(cfg: RunConfig, splits: DataSplits | None = None) -> RunSetup:
    """Configure torch, load the data (unless given), complete the model spec, pick the device, build loaders.
    Call inside :func:`neurokd.train.distributed.distributed_session`."""
    info = ddp.current()
    configure_torch(cfg)
    check_time_bins(cfg)
    # the model, T and batch must fit in memory; event data is binned into T frames while it loads, so it is
    # sized from the sensor before loading, other data once its shapes are known
    early = splits is None and cfg.data.name in EVENT_DATASETS
    if early:
        _check_training(cfg, sensor_spec(cfg))
    splits = splits or load_dataset(cfg.data, cfg.seed, T=cfg.model.T, progress=cfg.train.progress)
    cfg.model = model_spec_for(cfg, splits)
    if not early:
        _check_training(cfg, cfg.model)
    device = resolve_device(ddp.process_device(cfg.train.device, info))
    train_loader, val_loader, test_loader = make_loaders(splits, cfg.data, cfg.seed)
    reduce = None
    if info.enabled:
        ddp.check_batch_size(cfg.data.batch_size, info.world)
        train_loader.shard(info.rank, info.world, by_batch=True)
        val_loader.shard(info.rank, info.world, by_batch=False)
        test_loader.shard(info.rank, info.world, by_batch=False)
        reduce = ddp.all_sum
    if len(train_loader) == 0:
        raise UserError(f"dataset '{splits.name}': the training split is empty")
    return RunSetup(cfg, info, splits, device, train_loader, val_loader, test_loader, reduce)


def _check_training(cfg: RunConfig, spec: ModelSpec) -> None:
    check_training(spec, spec.T, cfg.data.batch_size, cfg.train.backprop, f"run '{cfg.name}'")


def sensor_spec(cfg: RunConfig) -> ModelSpec:
    """``cfg.model`` completed from the event dataset's sensor (input ``[P, H, W]``) and classes, without loading
    the data."""
    from neurokd.data.events import INFO

    info = INFO[cfg.data.name]
    W, H, P = info.sensor_size
    return dataclasses.replace(cfg.model, input_shape=[P, H, W], num_classes=info.num_classes)


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


def model_spec_for(cfg: RunConfig, splits: DataSplits) -> ModelSpec:
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


def build_configured_model(spec: ModelSpec) -> TwinNet:
    """``build_model(spec)`` for a spec from the user's config: a spec it cannot build (an arch for another input
    rank, sizes that leave nothing to convolve) is a ConfigError naming ``model``, not a crash."""
    try:
        return build_model(spec)
    except (ValueError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"config key 'model': cannot build {spec.arch} for input {spec.input_shape} "
                          f"({first[:200]})") from None
