"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from neurokd.config import RunConfig
from neurokd.configlib import add_config_arguments, build_config, overrides_from_args

# Short aliases for the most used config keys: --epochs is --optim.epochs, and so on.
ALIASES: dict[str, str] = {
    "--dataset": "data.name",
    "--data-root": "data.root",
    "--arch": "model.arch",
    "--T": "model.T",
    "--epochs": "optim.epochs",
    "--lr": "optim.lr",
    "--batch-size": "data.batch_size",
    "--out": "out_dir",
    "--device": "train.device",
    "--backprop": "train.backprop",
}


def add_run_arguments(p: argparse.ArgumentParser, cls: type = RunConfig, skip: tuple[str, ...] = ()) -> None:
    """``-c/--config FILE`` (repeatable), the short aliases, and ``--<section>.<key>`` for every config key."""
    p.add_argument("-c", "--config", action="append", default=[], metavar="FILE",
                   help="YAML config file (repeatable; later files win)")
    for flag, key in ALIASES.items():
        if key in skip:
            continue
        p.add_argument(flag, dest=f"cfg:{key}", default=argparse.SUPPRESS, metavar="VALUE", help=f"= --{key}")
    p.add_argument("--no-progress", dest="cfg:train.progress", action="store_const", const="false",
                   default=argparse.SUPPRESS, help="= --train.progress false")
    add_config_arguments(p, cls, skip)


def config_from_args(args: argparse.Namespace, cls: type = RunConfig, forced: dict[str, Any] | None = None):
    overrides = overrides_from_args(args)
    overrides.update(forced or {})
    return build_config(cls, args.config, overrides)


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

