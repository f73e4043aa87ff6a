"""``neurokd simulate TARGET FILE ...``: run an exported network on a dataset with a target's simulator.

Like ``neurokd export``, targets are plug-ins in ``exporters/``: :data:`TARGETS` maps a name to a module with
``register_simulate(targets)`` (imported lazily, when the parser is built).
"""

from __future__ import annotations

import importlib

TARGETS: dict[str, str] = {
    "lava": "exporters.lava.cli",
}


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run an exported network (" + ", ".join(TARGETS) + ")",
                       description="Run an exported network on a dataset split and report accuracy, activity "
                                   "and speed.")
    targets = p.add_subparsers(dest="target", metavar="TARGET", parser_class=type(p))
    targets.required = True
    for module in TARGETS.values():
        importlib.import_module(module).register_simulate(targets)
