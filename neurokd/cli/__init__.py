"""The ``neurokd`` command.

Each subcommand lives in its own module with ``register(subparsers)``; :data:`COMMAND_MODULES` lists them.
Modules keep heavy imports inside their run functions, and exporter/hardware commands are imported only
here (lazily), so ``import neurokd`` stays free of ``exporters`` and ``hardware``.

User errors (:class:`neurokd.errors.UserError`) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from neurokd import __version__
from neurokd.errors import UserError

COMMAND_MODULES: list[str] = [
    "neurokd.cli.train_cmds",
    "neurokd.cli.eval_cmd",
    "neurokd.cli.distill_cmd",
    "neurokd.cli.robustness_cmd",
    "neurokd.cli.demo_cmd",
    "neurokd.cli.stream_cmd",
    "neurokd.cli.export_cmd",
    "neurokd.cli.simulate_cmd",
    "hardware.cli",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurokd", description="ANN-to-SNN distillation and neuromorphic deployment toolkit.")
    parser.add_argument("--version", action="version", version=f"neurokd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"neurokd: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("neurokd: interrupted; completed epochs are checkpointed, continue with --resume", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())
