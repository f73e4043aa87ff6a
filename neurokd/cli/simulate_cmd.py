"""``neurokd simulate TARGET FILE ...``: run an exported network on a dataset with a target's simulator.

Like ``neurokd export``, each target has its own command module: :data:`TARGETS` maps a name to a module with
``register_simulate(targets)``.
"""

from __future__ import annotations

from types import ModuleType

from neurokd.cli import lava_cmd, nir_cmd

TARGETS: dict[str, ModuleType] = {
    "lava": lava_cmd,
    "nir": nir_cmd,
}


def register(sub) -> None:
    p = sub.add_parser("simulate", help="run an exported network (" + ", ".join(TARGETS) + ")",
                       description="Run an exported network on a dataset split and report accuracy, activity "
                                   "and speed.")
    targets = p.add_subparsers(dest="target", metavar="TARGET", parser_class=type(p))
    targets.required = True
    for module in TARGETS.values():
        module.register_simulate(targets)
