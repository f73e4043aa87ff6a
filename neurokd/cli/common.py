"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurokd.config import DataConfig, RunConfig
from neurokd.configlib import (
    add_config_arguments,
    leaf_keys,
    merge_sources,
    overrides_from_args,
    parse_dataclass,
)
from neurokd.errors import UserError

# Short aliases for the most used config keys: --epochs is --optim.epochs, and so on.
ALIASES: dict[str, str] = {
    "--dataset": "data.name",
    "--data-root": "data.root",
    "--arch": "model.arch",
    "--T": "model.T",
    "--epochs": "optim.epochs",
    "--lr": "optim.lr",
    "--batch-size": "data.batch_size",
    "--out-dir": "out_dir",
    "--device": "train.device",
    "--backprop": "train.backprop",
}


def add_run_arguments(p: argparse.ArgumentParser, cls: type = RunConfig, skip: tuple[str, ...] = ()) -> None:
    """``-c/--config FILE`` (repeatable), ``--out DIR`` (the run folder), the short aliases, and
    ``--<section>.<key>`` for every config key."""
    p.add_argument("-c", "--config", action="append", default=[], metavar="FILE",
                   help="YAML config file (repeatable; later files win)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="the run folder (= --out-dir its parent --name its name; default runs/run)")
    for flag, key in ALIASES.items():
        if key in skip:
            continue
        p.add_argument(flag, dest=f"cfg:{key}", default=argparse.SUPPRESS, metavar="VALUE", help=f"= --{key}")
    p.add_argument("--no-progress", dest="cfg:train.progress", action="store_const", const="false",
                   default=argparse.SUPPRESS, help="= --train.progress false")
    add_config_arguments(p, cls, skip)


def config_from_args(args: argparse.Namespace, cls: type = RunConfig,
                     forced: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """The validated config of ``-c`` files, flags and ``forced`` keys, and the dotted keys they set (what a
    ``--resume`` must check against the run's saved config)."""
    overrides = overrides_from_args(args)
    if getattr(args, "out", None) is not None:
        if {"out_dir", "name"} & set(overrides):
            raise UserError("--out DIR is the run folder itself (out_dir/name): give --out, or --out-dir and "
                            "--name, not both")
        folder = Path(args.out)
        overrides.update(out_dir=str(folder.parent), name=folder.name)
    tree = merge_sources(args.config, {**overrides, **(forced or {})})
    return parse_dataclass(cls, tree), leaf_keys(tree)


def add_json_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``--json [FILE]``: ``what`` as JSON, on stdout instead of the tables, or into FILE beside them."""
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help=f"{what} as JSON: on stdout instead of the tables, or written to FILE")


def emit_json(target: str | None, obj: Any) -> bool:
    """Write ``obj`` where ``--json`` said (``-``: stdout); True when stdout got it (the caller then prints no
    tables)."""
    if target is None:
        return False
    if target == "-":
        print(json.dumps(obj, indent=2, default=str))
        return True
    from neurokd.io import write_json

    write_json(target, obj)
    return False


def at_least(minimum: int, at_most: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= minimum`` (and ``<= at_most`` when given); a bad value is argparse's
    one-line error, exit 2."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum or (at_most is not None and value > at_most):
            bounds = f">= {minimum}" if at_most is None else f"between {minimum} and {at_most}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"  # what argparse names in its messages
    return parse


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--dataset NAME`` and ``--data.<key>`` for the commands that run a model on data (eval, report, ...): the
    model's own dataset (its run's, or the one an exported file records) with these settings on top."""
    p.add_argument("--dataset", dest="cfg:data.name", default=argparse.SUPPRESS, metavar="NAME",
                   help="= --data.name (default: the model's own dataset)")
    add_config_arguments(p, DataConfig, prefix="data.")

