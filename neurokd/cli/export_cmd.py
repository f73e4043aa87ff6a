"""``neurokd export TARGET RUN ...`` and ``neurokd inspect FILE``: deployment artifacts.

Export targets and file inspectors are plug-ins living in ``exporters/``; this module only lists them and is
the one place the CLI imports them (lazily, when the parser is built, never at ``import neurokd``).

- :data:`TARGETS`: target name -> module with ``register_export(targets)``, which adds its own sub-parser to
  ``neurokd export`` (``targets.add_parser(name, ...)``) and sets ``func`` to its run function.
- :data:`INSPECTORS`: file suffix -> module with ``inspect_file(path: Path, as_json: bool) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

TARGETS: dict[str, str] = {
    "nir": "exporters.nir.cli",
    "lava": "exporters.lava.cli",
}

INSPECTORS: dict[str, str] = {
    ".nir": "exporters.nir.cli",
    ".h5": "exporters.nir.cli",
    ".hdf5": "exporters.nir.cli",
    ".net": "exporters.lava.cli",
}


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained SNN (" + ", ".join(TARGETS) + ")",
                       description="Export a trained SNN run to a deployment format.")
    targets = p.add_subparsers(dest="target", metavar="TARGET", parser_class=type(p))
    targets.required = True
    for module in TARGETS.values():
        importlib.import_module(module).register_export(targets)

    q = sub.add_parser("inspect", help="describe an exported file (" + ", ".join(sorted(INSPECTORS)) + ")",
                       description="Print an exported network's metadata and node table.")
    q.add_argument("file", metavar="FILE", help="exported file, e.g. model.nir")
    q.add_argument("--json", action="store_true", help="print JSON instead of tables")
    q.set_defaults(func=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    from neurokd.errors import UserError

    path = Path(args.file)
    module = INSPECTORS.get(path.suffix.lower())
    if module is None:
        raise UserError(f"cannot inspect {path}: unknown file type {path.suffix or '(no suffix)'!r} "
                        f"(known: {', '.join(sorted(INSPECTORS))})")
    return importlib.import_module(module).inspect_file(path, args.json)
