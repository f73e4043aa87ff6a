"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from neurokd.config import SEED_MAX, RunConfig
from neurokd.configlib import add_config_arguments, build_config, overrides_from_args
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


def check_seed(seed: int, flag: str = "--seed") -> None:
    """A seed numpy and scikit-learn accept (32-bit unsigned), else one error line."""
    if not 0 <= seed <= SEED_MAX:
        raise UserError(f"{flag} must be between 0 and {SEED_MAX} (a 32-bit seed), got {seed}")
