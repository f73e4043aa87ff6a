"""Multi-process training on ``torch.distributed`` (``torchrun --nproc_per_node N -m neurokd ...``).

torchrun starts one process per device and sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`distributed_session` joins that process group (gloo on CPU, nccl on CUDA) only when
``WORLD_SIZE > 1``, so a plain ``neurokd train`` is untouched. The training loop then:

- shards every global batch of ``data.batch_size`` samples over the ranks (``Loader.shard``: rank ``r`` takes the
  ``r``-th contiguous slice of each batch, the sampler ``torch.utils.data.DistributedSampler`` would give, but
  batch-aligned, so N processes see exactly the batches one process sees);
- wraps what it trains, the model *and* the objective's own modules (KD adapters, aligners), in one
  :class:`TrainStep` under ``DistributedDataParallel``, so every trainable parameter's gradient is averaged
  whatever the objective does inside its forward;
- optionally replaces BatchNorm by a synchronized version (``train.sync_bn``): torch's ``SyncBatchNorm`` on CUDA,
  :class:`DistBatchNorm` (all_reduce of the batch statistics, differentiable) elsewhere, since torch's only runs
  on accelerators. With it, N processes compute what one process computes on the global batch;
- logs, writes checkpoints, metrics and the summary on rank 0 only, with barriers around the writes.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from neurokd.errors import ConfigError, UserError
from neurokd.snn.batch_stats import global_batch_stats, normalize, update_running_stats


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise UserError(f"environment variable {name}={text!r} is not an integer (set by torchrun)") from None


def env_info() -> DistInfo:
    """The torchrun environment of this process (a single process when ``WORLD_SIZE`` is unset or 1)."""
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world:
        raise UserError(f"environment variable RANK={rank} is outside 0..WORLD_SIZE-1={world - 1}")
    return DistInfo(rank, world, local)


def current() -> DistInfo:
    """The joined process group's view (a single process when none is initialized)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    return DistInfo()


def is_main_process() -> bool:
    """True on rank 0 and in single-process runs: the process that prints and writes files (from the joined
    group, or torchrun's environment before joining and after leaving)."""
    info = current()
    return info.is_main if info.enabled else env_info().is_main


def process_device(name: str, info: DistInfo) -> str:
    """The device for ``train.device = name`` in this process: ``cuda``/``auto`` become ``cuda:LOCAL_RANK``."""
    if not info.enabled:
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return f"cuda:{info.local_rank}"
    return name


@contextlib.contextmanager
def distributed_session(device: str = "auto") -> Iterator[DistInfo]:
    """Join torchrun's process group for the duration (no-op for a single process or an already joined group).

    The backend is nccl when this process trains on CUDA, gloo otherwise. The group is left on exit.
    """
    info = env_info()
    if not info.enabled or (dist.is_available() and dist.is_initialized()):
        yield current() if info.enabled else info
        return
    if not dist.is_available():
        raise UserError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    for key in ("MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(key):
            raise UserError(f"WORLD_SIZE={info.world} but {key} is not set; start multi-process runs with torchrun")
    dev = torch.device(process_device(device, info))
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, rank=info.rank, world_size=info.world,
                            timeout=datetime.timedelta(minutes=30))
    try:
        yield info
    finally:
        with contextlib.suppress(Exception):  # leaving after an error must not mask it
            dist.destroy_process_group()


def barrier() -> None:
    if current().enabled:
        dist.barrier()


def all_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sum over ranks (float64; the values themselves in a single process)."""
    if not current().enabled:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().tolist()


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (BN running statistics) to every rank, so all ranks evaluate rank 0's model, the
    one that rank 0 saves."""
    if not current().enabled:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def check_batch_size(batch_size: int, world: int, key: str = "data.batch_size") -> int:
    """Per-rank batch size ``batch_size / world``; raises ConfigError when it does not divide."""
    if batch_size % world:
        raise ConfigError(
            f"config key '{key}': the global batch {batch_size} does not split over {world} processes; "
            f"choose a multiple of {world} (each process then takes {batch_size // world or 1}-"
            f"{-(-batch_size // world)} samples)"
        )
    return batch_size // world


# ------------------------------------------------------------------------------------------- sync BatchNorm

def _sum_over_ranks(x: Tensor) -> Tensor:
    x = x.clone()
    dist.all_reduce(x)
    return x


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose backward is also the sum over ranks (every rank's loss depends on every rank's
    batch statistics, so their gradients add up)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return _sum_over_ranks(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return _sum_over_ranks(grad)


def all_reduce_sum(x: Tensor) -> Tensor:
    """Differentiable sum of ``x`` over ranks (``x`` itself without a process group)."""
    return _AllReduceSum.apply(x) if current().enabled else x


class DistBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the *global* batch over all ranks.

    Input ``[N, C, ...]``. Per channel, ranks all_reduce their sample count and sum, then the sum of squared
    deviations from the global mean (two passes, as numerically tame as local BN); normalisation uses the biased
    variance, the running variance the unbiased one, exactly as ``nn.BatchNorm``. Gradients flow through the
    reductions, so N ranks train as one process on the global batch. Runs on any device and backend (gloo
    included); in eval mode or without a process group it is plain BatchNorm. Used through the per-rank
    subclasses below, which :func:`convert_sync_bn` swaps in place of ``nn.BatchNorm1d/2d/3d``.
    """

    def batch_stat_reducer(self) -> Callable[[Tensor], Tensor] | None:
        """The sum over ranks that makes batch statistics global, or None (eval mode, no process group).

        Code that normalises this module's input itself (rate-based backprop's two passes) asks for it, so N
        ranks still compute what one process computes on the global batch. Not differentiable.
        """
        return _sum_over_ranks if self.training and current().enabled else None

    def forward(self, input: Tensor) -> Tensor:  # type: ignore[override]
        if not (self.training and current().enabled):
            return super().forward(input)
        self._check_input_dim(input)
        x = input.float()
        mean, var, n = global_batch_stats(x, all_reduce_sum, torch.float32)
        update_running_stats(self, mean.detach(), var.detach(), float(n.item()))
        return normalize(x, mean, var, self).to(input.dtype)


class DistBatchNorm1d(DistBatchNorm, nn.BatchNorm1d):
    pass


class DistBatchNorm2d(DistBatchNorm, nn.BatchNorm2d):
    pass


class DistBatchNorm3d(DistBatchNorm, nn.BatchNorm3d):
    pass


_DIST_BN = {nn.BatchNorm1d: DistBatchNorm1d, nn.BatchNorm2d: DistBatchNorm2d, nn.BatchNorm3d: DistBatchNorm3d}


def convert_sync_bn(module: nn.Module, device: torch.device) -> int:
    """Make every BatchNorm inside ``module`` synchronized, in place; returns how many.

    The modules keep their identity, parameters and buffers (an optimizer built earlier keeps training them,
    state-dict keys do not change); only their class is swapped: ``torch.nn.SyncBatchNorm`` on CUDA,
    :class:`DistBatchNorm` (still an ``nn.BatchNorm2d`` etc.) elsewhere. :func:`restore_bn` undoes it.
    """
    count = 0
    for m in module.modules():
        plain = type(m)
        if plain not in _DIST_BN:
            continue
        if device.type == "cuda":
            m.__class__ = nn.SyncBatchNorm
            m.process_group = None
        else:
            m.__class__ = _DIST_BN[plain]
        m._plain_bn_cls = plain
        count += 1
    return count


def restore_bn(module: nn.Module) -> None:
    """Give the BatchNorms :func:`convert_sync_bn` changed their plain classes back."""
    for m in module.modules():
        plain = m.__dict__.pop("_plain_bn_cls", None)
        if plain is not None:
            m.__dict__.pop("process_group", None)
            m.__class__ = plain


# ------------------------------------------------------------------------------------------- what DDP wraps

class TrainStep(nn.Module):
    """One training step's forward, ``objective(model, x, y)``, as a module holding both: DDP wraps this, so the
    objective's trainable modules (adapters, aligners) are synchronized like the model, whatever the method."""

    def __init__(self, model: nn.Module, objective: nn.Module):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, x: Tensor, y: Tensor):  # type: ignore[override]
        return self.objective(self.model, x, y)


def wrap_ddp(step: TrainStep, device: torch.device, find_unused: bool = False) -> nn.Module:
    """``DistributedDataParallel(step)``. ``find_unused`` (``train.ddp_find_unused``) lets some trainable
    parameters go unused in a step (an objective with optional modules) at the cost of a graph traversal per
    step; without it DDP stops at the next step, which :func:`explain_ddp_error` turns into a one-line hint."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DDP(step, device_ids=ids, find_unused_parameters=find_unused)


def explain_ddp_error(err: RuntimeError) -> UserError | None:
    """A UserError for DDP's unused-parameter failure, else None (the error is a bug and keeps its traceback)."""
    if "find_unused_parameters" in str(err):
        return ConfigError(
            "config key 'train.ddp_find_unused': some trainable parameters got no gradient in a training step "
            "(unused by the objective), which multi-process training must be told; set train.ddp_find_unused true"
        )
    return None


__all__ = [
    "DistBatchNorm",
    "DistBatchNorm1d",
    "DistBatchNorm2d",
    "DistBatchNorm3d",
    "DistInfo",
    "TrainStep",
    "all_reduce_sum",
    "all_sum",
    "barrier",
    "broadcast_buffers",
    "check_batch_size",
    "convert_sync_bn",
    "restore_bn",
    "current",
    "distributed_session",
    "env_info",
    "explain_ddp_error",
    "is_main_process",
    "process_device",
    "wrap_ddp",
]
