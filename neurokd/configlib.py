"""A small typed-config engine: dataclasses validated from YAML files and dotted overrides, and CLI options.

Generic: it knows nothing of neurokd's sections (:mod:`neurokd.config` defines those). Each config section is
a dataclass; :func:`parse_dataclass` validates a plain dict into it and reports the first problem as one line
naming the key path (``optim.lr: expected a number, got 'fast'``). Field metadata holds the help text and bounds
(``min``/``max`` inclusive, ``gt`` exclusive). Every leaf field is also a CLI option (``--optim.lr 0.01``), see
:func:`add_config_arguments`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

import yaml

from neurokd.errors import ConfigError
from neurokd.io import read_text
from neurokd.parsing import load_yaml_text


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


class Checked:
    """Mixin for config dataclasses: constructing one validates (and coerces) every field as
    :func:`parse_dataclass` does, so ``OptimConfig(lr="fast")`` is a ConfigError naming ``optim.lr`` and nested
    sections may be given as plain dicts. ``KEY`` is the section's dotted path in the config file."""

    KEY: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            tp, value = hints[f.name], getattr(self, f.name)
            if dataclasses.is_dataclass(tp) and isinstance(value, tp):
                continue  # validated when it was built
            path = f"{self.KEY}.{f.name}" if self.KEY else f.name
            object.__setattr__(self, f.name, _coerce(value, tp, path, f.metadata))


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
    """Read a YAML config file into a dict; a missing, special (FIFO, device), oversized, malformed or bomb-like
    file raises a one-line ConfigError (see :mod:`neurokd.io` and :mod:`neurokd.parsing`)."""
    path = Path(path)
    data = load_yaml_text(read_text(path, "config file", ConfigError), f"config file {path}", ConfigError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def build_config(cls: type, files: list[str | Path] | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """Merge YAML files (later wins) and dotted overrides, then validate into ``cls``."""
    return parse_dataclass(cls, merge_sources(files, overrides))


def merge_sources(files: list[str | Path] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plain tree of YAML files (later wins) with dotted overrides on top, not yet validated."""
    tree: dict[str, Any] = {}
    for f in files or []:
        _deep_merge(tree, load_yaml(f))
    for dotted, value in (overrides or {}).items():
        _set_path(tree, dotted, value)
    return tree


def leaf_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of the leaves of a plain config tree (what a user set)."""
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        out.extend(leaf_keys(value, dotted + ".") if isinstance(value, dict) else [dotted])
    return out


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = v


# -------------------------------------------------------------------------------------------------- CLI

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
    """Add ``--<prefix><section>.<key> VALUE`` for every leaf of ``cls``; values are parsed as YAML scalars.
    A true/false key is also a switch: ``--key`` alone means true and ``--no-key`` false."""
    group = parser.add_argument_group("config keys (override the YAML files)")
    for dotted, tp, f in leaf_fields(cls, prefix):
        if dotted in skip:
            continue
        text = f"{f.metadata.get('help', '')} [{_type_name(tp)}]"
        if tp is bool:
            group.add_argument(f"--{dotted}", dest=f"cfg:{dotted}", metavar="BOOL", nargs="?", const="true",
                               default=argparse.SUPPRESS, help=text + " (--no-" + dotted + ": false)")
            group.add_argument(f"--no-{dotted}", dest=f"cfg:{dotted}", action="store_const", const="false",
                               default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        else:
            group.add_argument(f"--{dotted}", dest=f"cfg:{dotted}", metavar=dotted.split(".")[-1].upper(),
                               default=argparse.SUPPRESS, help=text)


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
