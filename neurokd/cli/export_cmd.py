"""``neurokd export TARGET RUN ...`` and ``neurokd inspect FILE``: deployment artifacts.

Each target has its own command module (``nir_cmd``, ``lava_cmd``); this module lists them.

- :data:`TARGETS`: target name -> module with ``register_export(targets)``, which adds its own sub-parser to
  ``neurokd export`` (``targets.add_parser(name, ...)``) and sets ``func`` to its run function.
- :data:`INSPECTORS`: file suffix -> module with ``inspect_file(path: Path, json_target: str | None) -> int``
  (``--json [FILE]``: see :func:`neurokd.cli.common.emit_json`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

from neurokd.cli import lava_cmd, nir_cmd
from neurokd.cli.common import add_json_argument

TARGETS: dict[str, ModuleType] = {
    "nir": nir_cmd,
    "lava": lava_cmd,
}

INSPECTORS: dict[str, ModuleType] = {
    ".nir": nir_cmd,
    ".h5": nir_cmd,
    ".hdf5": nir_cmd,
    ".net": lava_cmd,
    ".lava": lava_cmd,
}


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained SNN (" + ", ".join(TARGETS) + ")",
                       description="Export a trained SNN run to a deployment format.")
    targets = p.add_subparsers(dest="target", metavar="TARGET", parser_class=type(p))
    targets.required = True
    for module in TARGETS.values():
        module.register_export(targets)

    q = sub.add_parser("inspect", help="describe an exported file (" + ", ".join(sorted(INSPECTORS)) + ")",
                       description="Print an exported network's metadata and node table.")
    q.add_argument("file", metavar="FILE", help="exported file, e.g. model.nir")
    add_json_argument(q, "the metadata and node table")
    q.set_defaults(func=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    from neurokd.errors import UserError

    path = Path(args.file)
    module = INSPECTORS.get(path.suffix.lower())
    if module is None:
        raise UserError(f"cannot inspect {path}: unknown file type {path.suffix or '(no suffix)'!r} "
                        f"(known: {', '.join(sorted(INSPECTORS))})")
    return module.inspect_file(path, args.json)
