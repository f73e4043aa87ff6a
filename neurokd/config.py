"""Typed run configuration, validated from YAML and command-line overrides.

Every section is a dataclass; :func:`parse_dataclass` validates a plain dict into it and reports the first
problem as one line naming the key path (``optim.lr: expected a number, got 'fast'``). Field metadata holds the
help text and bounds (``min``/``max`` inclusive, ``gt`` exclusive). Every leaf field is also a CLI option
(``--optim.lr 0.01``), see :func:`add_config_arguments`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from neurokd.errors import ConfigError
from neurokd.models.spec import ModelSpec


@dataclass
class DataConfig:
    name: Literal[
        "digits", "mnist1d", "cifar10", "cifar100", "imagefolder",
        "saccade-digits", "nmnist", "dvsgesture", "cifar10dvs",
    ] = field(default="digits", metadata={"help": "dataset"})
    root: str | None = field(default=None, metadata={"help": "folder with the dataset files (cifar, imagefolder, DVS)"})
    batch_size: int = field(default=64, metadata={"min": 1, "help": "training batch size"})
    eval_batch_size: int = field(default=256, metadata={"min": 1, "help": "evaluation batch size"})
    val_fraction: float = field(default=0.1, metadata={"min": 0.0, "max": 0.5, "help": "share of train held out"})
    augment: list[Literal["crop", "flip", "cutout"]] = field(
        default_factory=list, metadata={"help": "training augmentations (comma-separated)"}
    )
    image_size: int | None = field(default=None, metadata={"min": 8, "help": "imagefolder resize (pixels)"})
    download: bool = field(default=False, metadata={"help": "download CIFAR when missing (needs network)"})
    num_workers: int = field(default=0, metadata={"min": 0, "help": "loader worker processes (imagefolder)"})
    time_bins: int | None = field(
        default=None, metadata={"min": 1, "help": "event data: frames per sample (default: model.T)"}
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
        metadata={"min": 100, "help": "mnist1d: signals to generate, a multiple of 10 (the generator's 80/20 "
                                      "train/test split: 50000 -> 40000/10000); null = the published 5000"},
    )

    def __post_init__(self) -> None:
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
class OptimConfig:
    name: Literal["sgd", "adamw"] = field(default="adamw", metadata={"help": "optimizer"})
    lr: float = field(default=1e-3, metadata={"gt": 0.0, "help": "peak learning rate"})
    weight_decay: float = field(default=0.0, metadata={"min": 0.0, "help": "weight decay (not on BN/bias)"})
    momentum: float = field(default=0.9, metadata={"min": 0.0, "max": 1.0, "help": "SGD momentum"})
    epochs: int = field(default=20, metadata={"min": 1, "help": "training epochs"})
    schedule: Literal["cosine", "constant"] = field(default="cosine", metadata={"help": "LR schedule"})
    warmup_epochs: int = field(default=0, metadata={"min": 0, "help": "linear warm-up epochs"})
    grad_clip: float | None = field(default=None, metadata={"gt": 0.0, "help": "clip grad norm"})


@dataclass
class TrainConfig:
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
    threads: int | None = field(default=None, metadata={"min": 1, "help": "CPU threads (torch default if None)"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})
    checkpoint_every: int = field(default=1, metadata={"min": 1, "help": "checkpoint every N epochs"})
    keep_checkpoints: int = field(default=2, metadata={"min": 1, "help": "epoch checkpoints kept"})
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
class DistillConfig:
    """Knowledge distillation from a frozen teacher (``neurokd distill``); ``method: none`` is plain training."""

    method: Literal["none", "response", "feature", "response+feature", "blockwise"] = field(
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
        default=0, metadata={"min": 0, "help": "blockwise: 0 = all hybrids from epoch 1; N = hybrid k of B (depth "
                                               "order) joins at epoch 1 + floor((k-1)*N/B)"}
    )
    teacher_arch: Literal[
        "cnn", "cnn1d", "vgg11", "vgg13", "vgg16", "resnet18", "resnet19", "resnet20", "resnet34", "resnet1d"
    ] | None = field(default=None, metadata={"help": "zoo arch of a bare state-dict teacher (inferred if None)"})


@dataclass
class RunConfig:
    name: str = field(default="run", metadata={"help": "run name (folder under out_dir)"})
    out_dir: str = field(default="runs", metadata={"help": "parent folder of run folders"})
    seed: int = field(default=0, metadata={"min": 0, "help": "random seed"})
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSpec = field(default_factory=ModelSpec)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)

    def __post_init__(self) -> None:
        check_run_name(self.name)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------- validation

def check_run_name(name: str, key: str = "name") -> str:
    """``name`` must be one plain folder name: the run folder may not escape ``out_dir`` (``../x``, ``/x``,
    ``a/b``) nor be special (empty, ``.``, ``..``, control characters)."""
    seps = [s for s in (os.sep, os.altsep, "/", "\\") if s]
    if (not isinstance(name, str) or not name.strip() or name in (".", "..") or any(s in name for s in seps)
            or any(ord(c) < 32 for c in name) or Path(name).is_absolute() or Path(name).drive):
        raise ConfigError(f"config key '{key}': {name!r} is not a plain folder name; a run name may not be empty, "
                          "'.', '..', absolute or contain path separators (it names a folder inside out_dir)")
    return name


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None)) + " or null"
    if origin is list:
        return f"a list of ({_type_name(get_args(tp)[0])})"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def _check_bounds(value: Any, meta: typing.Mapping[str, Any], path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"config key '{path}': must be >= {meta['min']}, got {value}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"config key '{path}': must be <= {meta['max']}, got {value}")
    if "gt" in meta and value <= meta["gt"]:
        raise ConfigError(f"config key '{path}': must be > {meta['gt']}, got {value}")


_FLOAT_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value: Any, tp: Any, path: str, meta: typing.Mapping[str, Any]) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{path}': expected a mapping of keys, got {value!r}")
        return parse_dataclass(tp, value, path)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            if type(None) in get_args(tp):
                return None
            raise ConfigError(f"config key '{path}': may not be null")
        return _coerce(value, args[0], path, meta)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"config key '{path}': expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{path}': expected {_type_name(tp)}, got {value!r}")
        return [_coerce(v, item_tp, f"{path}[{i}]", meta) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{path}': expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{path}': expected an integer, got {value!r}")
        _check_bounds(value, meta, path)
        return value
    if tp is float:
        if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 (PyYAML) reads "3e-3" as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key '{path}': expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"config key '{path}': expected a finite number, got {value!r}")
        _check_bounds(float(value), meta, path)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{path}': expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} at {path}")


def parse_dataclass(cls: type, data: dict[str, Any], path: str = "") -> Any:
    """Validate ``data`` into an instance of dataclass ``cls``; unknown keys and bad values raise ConfigError."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(f"config key '{where}': unknown key (known keys here: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{path}.{name}" if path else name, f.metadata)
    return cls(**kwargs)


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for k in keys[:-1]:
        child = node.get(k)
        if not isinstance(child, dict):
            child = {}
            node[k] = child
        node = child
    node[keys[-1]] = value


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict; malformed files raise a one-line ConfigError."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except OSError as e:
        raise ConfigError(f"config file {path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {e.start}); is it a YAML file?") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {path}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def build_config(cls: type, files: list[str | Path] | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """Merge YAML files (later wins) and dotted overrides, then validate into ``cls``."""
    tree: dict[str, Any] = {}
    for f in files or []:
        _deep_merge(tree, load_yaml(f))
    for dotted, value in (overrides or {}).items():
        _set_path(tree, dotted, value)
    return parse_dataclass(cls, tree)


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = v


# ------------------------------------------------------------------------------------------------ CLI glue

def leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, dataclasses.Field]]:
    """``(dotted_name, type, field)`` for every non-dataclass field of ``cls``, recursively."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        name = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            out.extend(leaf_fields(tp, name + "."))
        else:
            out.append((name, tp, f))
    return out


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), prefix: str = ""
) -> None:
    """Add ``--<prefix><section>.<key> VALUE`` for every leaf of ``cls``; values are parsed as YAML scalars."""
    group = parser.add_argument_group("config keys (override the YAML files)")
    for dotted, tp, f in leaf_fields(cls, prefix):
        if dotted in skip:
            continue
        group.add_argument(
            f"--{dotted}", dest=f"cfg:{dotted}", metavar=dotted.split(".")[-1].upper(), default=argparse.SUPPRESS,
            help=f"{f.metadata.get('help', '')} [{_type_name(tp)}]",
        )


def merge_data_config(base: dict[str, Any], overrides: dict[str, Any]) -> DataConfig:
    """A validated :class:`DataConfig`: ``base`` (a saved ``data`` section) with ``data.*`` overrides on top."""
    merged = dict(base)
    merged.update({k.removeprefix("data."): v for k, v in overrides.items()})
    return build_config(DataConfig, overrides=merged)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Collect ``--section.key`` values from a parsed namespace, each parsed as a YAML scalar."""
    out: dict[str, Any] = {}
    for k, v in vars(args).items():
        if k.startswith("cfg:"):
            out[k[4:]] = _parse_scalar(v)
    return out


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
