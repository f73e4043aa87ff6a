"""The ``neurokd`` command.

Each subcommand lives in its own module with ``register(subparsers)``; :data:`COMMANDS` lists them. The CLI is
the application layer: it imports the core, the exporters and the hardware package directly. Command modules
keep heavy imports inside their run functions, so building the parser stays cheap.

User errors (:class:`neurokd.errors.UserError`) print one line and exit with code 2.

The process's OpenMP policy (:func:`neurokd.runtime.apply_process_policy`: threads sleep instead of spinning
while they wait) is set here, before the command modules import torch: OpenMP reads it once, when it loads.
"""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from neurokd.runtime import apply_process_policy

apply_process_policy()

from neurokd.cli import (  # noqa: E402  (after the OpenMP policy: these import torch)
    demo_cmd,
    distill_cmd,
    eval_cmd,
    export_cmd,
    report_cmd,
    robustness_cmd,
    simulate_cmd,
    stream_cmd,
    stream_file_cmd,
    train_cmds,
)
from neurokd.errors import UserError  # noqa: E402
from neurokd.io import environment_error  # noqa: E402
from neurokd.version import __version__  # noqa: E402

COMMANDS: list[ModuleType] = [
    train_cmds,
    eval_cmd,
    distill_cmd,
    robustness_cmd,
    demo_cmd,
    stream_cmd,
    stream_file_cmd,
    export_cmd,
    simulate_cmd,
    report_cmd,
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse's own convention too)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neurokd", description="ANN-to-SNN distillation and neuromorphic deployment toolkit.")
    parser.add_argument("--version", action="version", version=f"neurokd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"neurokd: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a path too long, a link loop, a full disk, ... wherever it surfaced
        err = environment_error(e)
        if err is None:
            raise
        print(f"neurokd: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("neurokd: interrupted; completed epochs are checkpointed, continue with --resume", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())
