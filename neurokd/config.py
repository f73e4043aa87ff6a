"""neurokd's run configuration: the sections of ``config.yaml`` as typed dataclasses.

Validation, YAML loading, dotted overrides and CLI options come from the generic engine,
:mod:`neurokd.configlib`; this module only defines what neurokd's keys are.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from neurokd.configlib import Checked, build_config
from neurokd.convert.names import METHOD_CHOICES
from neurokd.data.names import DATASETS, EVENT_DATASETS
from neurokd.distill.methods import METHODS
from neurokd.errors import ConfigError
from neurokd.models.spec import ARCHS, ModelSpec

# Upper bounds of counts that no real run reaches, so that a typo is refused before it allocates or runs for ever
# (T, width and batch are sized against memory by neurokd.guard; these catch what memory does not).
EPOCHS_MAX = 100_000  # 100k epochs of the smallest dataset (digits, ~0.5 s each) is already most of a day
BATCH_MAX = 2**20  # more samples than any bundled or loadable dataset's split

LOG_SINKS: tuple[str, ...] = ("csv", "tensorboard")  # train.log_to (neurokd.train.loggers implements each)


@dataclass
class DataConfig(Checked):
    KEY: ClassVar[str] = "data"

    name: Literal[DATASETS] = field(default="digits", metadata={"help": "dataset"})  # type: ignore[valid-type]
    root: str | None = field(default=None, metadata={"help": "folder with the dataset files (cifar, imagefolder, DVS)"})
    batch_size: int = field(default=64, metadata={"min": 1, "max": BATCH_MAX, "help": "training batch size"})
    eval_batch_size: int = field(default=256, metadata={"min": 1, "max": BATCH_MAX, "help": "evaluation batch size"})
    val_fraction: float = field(default=0.1, metadata={"min": 0.0, "max": 0.5, "help": "share of train held out"})
    augment: list[Literal["crop", "flip", "cutout"]] = field(
        default_factory=list, metadata={"help": "training augmentations (comma-separated)"}
    )
    image_size: int | None = field(default=None, metadata={"min": 8, "max": 8192, "help": "imagefolder resize (pixels)"})
    download: bool = field(default=False, metadata={"help": "download CIFAR when missing (needs network)"})
    num_workers: int = field(default=0, metadata={"min": 0, "max": 256, "help": "loader worker processes (imagefolder)"})
    time_bins: int | None = field(
        default=None, metadata={"min": 1, "max": 100_000, "help": "event data: frames per sample (default: model.T)"}
    )
    bin_ms: float | None = field(
        default=None, metadata={"gt": 0.0, "help": "event data: frame length in ms (default: recording / time_bins)"}
    )
    denoise_ms: float | None = field(
        default=None, metadata={"gt": 0.0, "help": "event data: drop events with no neighbour within this many ms"}
    )
    frame_cache: bool = field(default=True, metadata={"help": "event data: cache binned frames on disk too"})
    num_samples: int | None = field(
        default=None,
        metadata={"min": 100, "max": 10**7, "help": "mnist1d: signals to generate, a multiple of 10 (the generator's 80/20 "
                                      "train/test split: 50000 -> 40000/10000); null = the published 5000"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("time_bins", "bin_ms", "denoise_ms"):
            if getattr(self, key) is not None and self.name not in EVENT_DATASETS:
                raise ConfigError(f"config key 'data.{key}': applies to event datasets "
                                  f"({', '.join(EVENT_DATASETS)}) only, not to {self.name}; remove it")
        n = self.num_samples
        if n is None:
            return
        if self.name != "mnist1d":
            raise ConfigError(f"config key 'data.num_samples': applies to the generated mnist1d only, not to "
                              f"{self.name}; remove it")
        if n % 10:
            raise ConfigError(f"config key 'data.num_samples': must be a multiple of 10 (the generator makes "
                              f"num_samples // 10 signals per class), got {n}")


@dataclass
class OptimConfig(Checked):
    KEY: ClassVar[str] = "optim"

    name: Literal["sgd", "adamw"] = field(default="adamw", metadata={"help": "optimizer"})
    lr: float = field(default=1e-3, metadata={"gt": 0.0, "help": "peak learning rate"})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0, "help": "weight decay (not on BN/bias)"})
    momentum: float = field(default=0.9, metadata={"min": 0.0, "max": 1.0, "help": "SGD momentum"})
    epochs: int = field(default=20, metadata={"min": 1, "max": EPOCHS_MAX, "help": "training epochs"})
    schedule: Literal["cosine", "constant"] = field(default="cosine", metadata={"help": "LR schedule"})
    warmup_epochs: int = field(default=0, metadata={"min": 0, "max": EPOCHS_MAX, "help": "linear warm-up epochs"})
    grad_clip: float | None = field(default=None, metadata={"gt": 0.0, "help": "clip grad norm"})


@dataclass
class TrainConfig(Checked):
    KEY: ClassVar[str] = "train"

    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:N"})
    amp: bool = field(default=True, metadata={"help": "mixed precision (fp16 + loss scaling) on CUDA"})
    cpu_heap_reuse: bool = field(
        default=False,
        metadata={"help": "Linux/glibc: keep freed large tensors in the heap instead of mmap/munmap per step "
                          "(resnet19 trains 1.3-2x faster on CPU; freed memory stays with the process, so its "
                          "resident size grows to ~1.7x the peak)"},
    )
    cpu_bf16: bool = field(
        default=False,
        metadata={"help": "bfloat16 autocast on CPU (~2x faster convs on CPUs with AVX512-BF16/AMX; changes numerics)"},
    )
    channels_last: bool = field(default=True, metadata={"help": "channels-last memory format for 2-D convs"})
    deterministic: bool = field(default=True, metadata={"help": "deterministic algorithms"})
    threads: int | None = field(
        default=None,
        metadata={"min": 1, "max": 4096, "help": "CPU threads (default: torch's, at most the CPUs this process may use; "
                                    "OMP_NUM_THREADS/MKL_NUM_THREADS when set)"},
    )
    time_chunk: int | None = field(
        default=None,
        metadata={"min": 1, "help": "SNN: time steps per chunk of a forward pass (default: on CPU as many as keep "
                                    "the largest activation within 16 MiB, neurokd.snn.folding.CHUNK_BYTES; on GPU "
                                    "all; >= model.T folds all steps at once). Spikes and BatchNorm statistics are "
                                    "the same either way"},
    )
    progress: bool = field(default=True, metadata={"help": "progress bars (drawn only on a terminal; the one line "
                                                          "per epoch is written either way)"})
    log_to: list[Literal[LOG_SINKS]] = field(  # type: ignore[valid-type]
        default_factory=list,
        metadata={"help": "extra epoch logs in the run folder besides metrics.jsonl: csv (metrics.csv), tensorboard "
                          "(tensorboard/ event files; needs the tensorboard package)"},
    )
    checkpoint_every: int = field(default=1, metadata={"min": 1, "max": EPOCHS_MAX, "help": "checkpoint every N epochs"})
    keep_checkpoints: int = field(default=2, metadata={"min": 1, "max": EPOCHS_MAX, "help": "epoch checkpoints kept"})
    sync_bn: bool = field(
        default=False,
        metadata={"help": "multi-process runs (torchrun): BatchNorm statistics over the global batch, not per process"},
    )
    ddp_find_unused: bool = field(
        default=False,
        metadata={"help": "multi-process runs: allow trainable parameters that a step leaves unused (slower)"},
    )
    backprop: Literal["bptt", "rate"] = field(
        default="bptt",
        metadata={"help": "SNN training: bptt (through time) or rate (rate-based backprop, memory flat in T); "
                          "ANNs train with plain backprop either way"},
    )
    rate_chunk: int = field(
        default=4,
        metadata={"min": 1, "help": "rate-BP: time steps per graph-free spike-pass chunk (memory bound); with "
                                    "T > rate_chunk BatchNorm normalises each chunk with its own statistics"},
    )


@dataclass
class DistillConfig(Checked):
    """Knowledge distillation from a frozen teacher (``neurokd distill``); ``method: none`` is plain training."""
    KEY: ClassVar[str] = "distill"


    method: Literal[METHODS] = field(  # type: ignore[valid-type]
        default="none", metadata={"help": "KD method (none = cross-entropy only; blockwise = hybrid block-wise "
                                          "replacement)"}
    )
    teacher: str | None = field(
        default=None, metadata={"help": "teacher: run folder, model file, .safetensors/.pt/.pth state dict or .onnx"}
    )
    per_step: bool = field(default=False, metadata={"help": "response KD on every time step's logits (SNN)"})
    alpha: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0, "help": "a in (1-a)*CE + a*tau^2*KL"})
    tau: float = field(default=4.0, metadata={"gt": 0.0, "help": "KD temperature"})
    beta: float = field(default=1.0, metadata={"min": 0.0, "help": "feature-KD weight b (L2 per tap)"})
    taps: list[str] = field(
        default_factory=lambda: ["last"],
        metadata={"help": "feature taps: last, a stage/module name, or student_module=teacher_module"},
    )
    normalize: Literal["none", "l2"] = field(
        default="none", metadata={"help": "feature normalisation before the L2 (l2: unit-norm per sample)"}
    )
    adapter: Literal["auto", "always"] = field(
        default="always", metadata={"help": "1x1 conv/linear + BN adapter: always, or auto (only if channels differ)"}
    )
    branches: list[str] | None = field(
        default=None, metadata={"help": "blockwise: branch points whose rates feed a hybrid: stage outputs "
                                        "(stageK) or points inside a stage after block J (stageK.J); default: "
                                        "every stage output but the last"}
    )
    branch_weights: list[float] | None = field(
        default=None, metadata={"min": 0.0, "help": "blockwise: weight w_i per branch, in branch order (default: "
                                                    "2^-(n-i) for stage i of n)"}
    )
    aligner: Literal["conv_bn", "conv_bn_relu", "none"] = field(
        default="conv_bn", metadata={"help": "blockwise: conv_bn = 1x1 conv (linear for vectors) + BN per branch; "
                                             "conv_bn_relu = the same + ReLU (non-negative, like the teacher's "
                                             "stage outputs); none = identity (shapes must match)"}
    )
    aligner_init: Literal["unit", "teacher_stats"] = field(
        default="unit", metadata={"help": "blockwise: aligner BN affine at start: unit (weight 1, bias 0) or "
                                          "teacher_stats (the teacher feature's channel std and mean at the branch, "
                                          "measured on the first 512 training samples)"}
    )
    branch_loss: Literal["ce+kd", "ce"] = field(
        default="ce+kd", metadata={"help": "blockwise: hybrid loss, the SNN's (1-a)*CE + a*KD, or its CE term only"}
    )
    progressive_epochs: int = field(
        default=0, metadata={"min": 0, "max": EPOCHS_MAX, "help": "blockwise: 0 = all hybrids from epoch 1; N = hybrid k of B (depth "
                                               "order) joins at epoch 1 + floor((k-1)*N/B)"}
    )
    teacher_arch: Literal[ARCHS] | None = field(  # type: ignore[valid-type]
        default=None, metadata={"help": "zoo arch of a bare state-dict teacher (inferred if None)"})
    init: Literal["random", "converted"] = field(
        default="random",
        metadata={"help": "student's starting point: random weights, or converted: the teacher converted to an IF "
                          "SNN (convert.method; weights, per-layer thresholds, initial membrane); needs the "
                          "teacher's architecture and model.neuron.type if, reset subtract"},
    )


@dataclass
class ConvertConfig(Checked):
    """ANN-to-SNN conversion (``neurokd convert``; ``distill.init: converted`` uses method, percentile,
    calibration_samples and initial_membrane)."""

    KEY: ClassVar[str] = "convert"

    teacher: str | None = field(
        default=None, metadata={"help": "ANN to convert: run folder, model file or zoo state dict (.safetensors, "
                                        ".pt/.pth)"}
    )
    method: Literal[METHOD_CHOICES] = field(  # type: ignore[valid-type]
        default="auto", metadata={"help": "threshold-balance (data-based, Rueckauer 2017), qcfs (a teacher trained "
                                          "with model.activation qcfs, Bu 2022), or auto (qcfs for a QCFS teacher)"}
    )
    percentile: float = field(
        default=99.9, metadata={"gt": 0.0, "max": 100.0, "help": "threshold-balance: percentile of each layer's "
                                                                 "positive activations that one spike per step stands for"}
    )
    calibration_samples: int = field(
        default=1024, metadata={"min": 1, "max": BATCH_MAX, "help": "threshold-balance: training samples (the first N, in the split's "
                                                  "fixed order) whose activations set the percentiles"}
    )
    initial_membrane: float | None = field(
        default=None, metadata={"min": 0.0, "max": 1.0, "help": "membrane at t = 0 as a fraction of each threshold; "
                                                               "null = the method's: 0 for threshold-balance, 0.5 "
                                                               "(QCFS's shift) for qcfs"}
    )


# numpy's and scikit-learn's seeds are 32-bit unsigned
SEED_MAX = 2**32 - 1


@dataclass
class RunConfig(Checked):
    name: str = field(default="run", metadata={"help": "run name (folder under out_dir)"})
    out_dir: str = field(default="runs", metadata={"help": "parent folder of run folders"})
    seed: int = field(default=0, metadata={"min": 0, "max": SEED_MAX, "help": "random seed"})
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSpec = field(default_factory=ModelSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_run_name(self.name)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_run_name(name: str, key: str = "name") -> str:
    """``name`` must be one plain folder name: the run folder may not escape ``out_dir`` (``../x``, ``/x``,
    ``a/b``) nor be special (empty, ``.``, ``..``, control characters)."""
    seps = [s for s in (os.sep, os.altsep, "/", "\\") if s]
    if (not isinstance(name, str) or not name.strip() or name in (".", "..") or any(s in name for s in seps)
            or any(ord(c) < 32 for c in name) or Path(name).is_absolute() or Path(name).drive):
        raise ConfigError(f"config key '{key}': {name!r} is not a plain folder name; a run name may not be empty, "
                          "'.', '..', absolute or contain path separators (it names a folder inside out_dir)")
    return name


def merge_data_config(base: dict[str, Any], overrides: dict[str, Any]) -> DataConfig:
    """A validated :class:`DataConfig`: ``base`` (a saved ``data`` section) with ``data.*`` overrides on top."""
    merged = dict(base)
    merged.update({k.removeprefix("data."): v for k, v in overrides.items()})
    return build_config(DataConfig, overrides=merged)


# The data keys that say which data a model runs on (recorded in exported files, so they can be evaluated alone).
DATA_IDENTITY_KEYS: tuple[str, ...] = ("name", "root", "val_fraction", "image_size", "num_samples", "time_bins",
                                       "bin_ms", "denoise_ms")


def data_identity(cfg: DataConfig) -> dict[str, Any]:
    """The :data:`DATA_IDENTITY_KEYS` of ``cfg`` that are set (an exported file's ``data`` metadata)."""
    return {k: getattr(cfg, k) for k in DATA_IDENTITY_KEYS if getattr(cfg, k) is not None}

