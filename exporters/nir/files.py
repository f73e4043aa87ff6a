"""Reading and writing NIR files (HDF5, ``nir.write`` / ``nir.read``) with one-line errors.

Writes are atomic (temp file + rename, :func:`neurokd.io.atomic_path`): an interrupted export never leaves a
half-written ``.nir`` behind. Reads check, in order, that the file exists, is HDF5, is readable (not
truncated), is a NIR graph, and parses; each failure is a :class:`neurokd.errors.UserError` naming the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import h5py
import nir

from neurokd.errors import UserError
from neurokd.io import atomic_path

# Node types nir 1.0.8 can deserialise (its registry); anything else is reported by name.
KNOWN_TYPES = ("Affine", "AvgPool2d", "Conv1d", "Conv2d", "CubaLI", "CubaLIF", "Delay", "Flatten", "I", "IF",
               "Input", "LI", "LIF", "Linear", "NIRGraph", "Output", "Scale", "SumPool2d", "Threshold")


def save(graph: nir.NIRGraph, path: str | os.PathLike, compression: str | None = None,
         nir_version: str | None = None) -> Path:
    """Write ``graph`` to ``path`` with ``nir.write``, atomically. Returns the path.

    ``compression``: None (default) or ``"gzip"`` (nir's own default). Float weights barely compress, so gzip
    mostly shrinks the constant per-neuron arrays: for the resnet19 SNN the file is 48 MB instead of 79 MB,
    but export + import take ~5x longer (benchmarks/nir_roundtrip.py). Both are plain HDF5 that any NIR
    reader loads.

    ``nir_version``: ``"1.0.8"`` (default) or ``"1.0.4"``, a file that nir 1.0.4's reader (Sinabs, Rockpool)
    loads, with the meaning of the fields it cannot hold moved into metadata and a one-line warning of what an
    older reader may interpret differently (``neurokd.exporters.nir.legacy``).
    """
    from neurokd.exporters.nir import legacy

    version = legacy.check_version(nir_version)
    path = Path(path)
    if path.is_dir():
        raise UserError(f"NIR output {path}: is a folder; give a file name such as {path / 'model.nir'}")
    with atomic_path(path) as tmp:
        if version == legacy.CURRENT:
            nir.write(tmp, graph, compression=compression)
        else:
            nir.write(tmp, legacy.legacy_graph(graph), compression=compression)
            with h5py.File(tmp, "r+") as f:
                legacy.strip_to_legacy(f, version)
    if version != legacy.CURRENT:
        warnings.warn(legacy.warning(version), UserWarning, stacklevel=2)
    return path


def read(path: str | os.PathLike) -> nir.NIRGraph:
    """The graph in a NIR file (read without nir's strict type check, so pre-1.0.6 graphs load too)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"NIR file {path}: not found" + (" (it is a folder)" if path.is_dir() else ""))
    if not h5py.is_hdf5(path):
        raise UserError(f"NIR file {path}: not an HDF5 file (NIR graphs are HDF5 files written by nir.write)")
    try:
        with h5py.File(path, "r") as f:
            _check_layout(f, path)
    except OSError as e:
        raise UserError(f"NIR file {path}: unreadable HDF5 (truncated or corrupt: {_first_line(e)})") from None
    try:
        graph = nir.read(path, type_check=False)
    except OSError as e:
        raise UserError(f"NIR file {path}: unreadable HDF5 (truncated or corrupt: {_first_line(e)})") from None
    except (KeyError, ValueError, TypeError, AssertionError, AttributeError) as e:
        raise UserError(f"NIR file {path}: malformed NIR graph ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"NIR file {path}: holds a single {type(graph).__name__} node, not a graph")
    return graph


def _check_layout(f: h5py.File, path: Path) -> None:
    """The file is a NIR graph: ``/node`` with ``type``; every node's type is one nir knows."""
    node = f.get("node")
    if not isinstance(node, h5py.Group) or "type" not in node:
        keys = ", ".join(sorted(f.keys())[:5]) or "nothing"
        raise UserError(f"NIR file {path}: an HDF5 file but not a NIR graph (no /node group with a type; "
                        f"top level has {keys})")
    _check_types(node, path, "")


def _check_types(group: h5py.Group, path: Path, name: str) -> None:
    """``name``: the node's dotted path in the graph ("" for the root)."""
    kind = _as_str(group["type"][()]) if "type" in group else None
    if kind not in KNOWN_TYPES:
        where = f"node '{name}'" if name else "the root node"
        shown = repr(kind) if kind is None or len(kind) <= 40 else repr(kind[:40] + "...")
        raise UserError(f"NIR file {path}: {where} has unknown type {shown} (nir 1.0.8 knows "
                        f"{', '.join(KNOWN_TYPES)})")
    if kind == "NIRGraph":
        nodes = group.get("nodes")
        if not isinstance(nodes, h5py.Group) or "edges" not in group:
            raise UserError(f"NIR file {path}: graph '{name or '/'}' has no nodes/edges")
        for child_name, child in nodes.items():
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, h5py.Group):
                raise UserError(f"NIR file {path}: node '{full}' is not a group")
            _check_types(child, path, full)


def _as_str(v) -> str:
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
