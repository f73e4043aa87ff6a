"""``neurokd export TARGET RUN ...``: deployment artifacts.

Export targets are plug-ins living in ``exporters/``; this module only lists them and is the one place the CLI
imports them (lazily, when the parser is built, never at ``import neurokd``).

:data:`TARGETS`: target name -> module with ``register_export(targets)``, which adds its own sub-parser to
``neurokd export`` (``targets.add_parser(name, ...)``) and sets ``func`` to its run function.
"""

from __future__ import annotations

import importlib

TARGETS: dict[str, str] = {
    "lava": "exporters.lava.cli",
}


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained SNN (" + ", ".join(TARGETS) + ")",
                       description="Export a trained SNN run to a deployment format.")
    targets = p.add_subparsers(dest="target", metavar="TARGET", parser_class=type(p))
    targets.required = True
    for module in TARGETS.values():
        importlib.import_module(module).register_export(targets)
