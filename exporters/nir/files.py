"""Reading and writing NIR files (HDF5, ``nir.write`` / ``nir.read``) with one-line errors.

Writes build the file in memory and write it atomically (:func:`neurokd.io.write_bytes`): an interrupted or
failed export (full disk, read-only folder) never leaves a half-written ``.nir`` behind, and libhdf5 never
meets a disk error, on which it can crash. Reads (:func:`read`) check, in order, that the file is a regular
HDF5 file that reads nothing outside itself and declares nothing too large, is a NIR graph of bounded depth,
parses, and holds valid numbers; each failure is a :class:`neurokd.errors.UserError` naming the file.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import h5py
import nir
from nir import serialization as nir_serialization

from neurokd.errors import UserError
from neurokd.hdf5 import first_line, open_hdf5
from neurokd.io import write_bytes
from neurokd.limits import ENV, limits

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
    buffer = io.BytesIO()  # HDF5 written in memory: on a full disk libhdf5 crashes rather than failing cleanly
    if version == legacy.CURRENT:
        nir.write(buffer, graph, compression=compression)
    else:
        nir.write(buffer, legacy.legacy_graph(graph), compression=compression)
        with h5py.File(buffer, "r+") as f:
            legacy.strip_to_legacy(f, version)
    write_bytes(path, buffer.getvalue())
    if version != legacy.CURRENT:
        warnings.warn(legacy.warning(version), UserWarning, stacklevel=2)
    return path


def read(path: str | os.PathLike) -> nir.NIRGraph:
    """The graph in a NIR file (read without nir's strict type check, so pre-1.0.6 graphs load too).

    The file is opened with :func:`neurokd.hdf5.open_hdf5` (regular files only; no links out of the file,
    virtual datasets or external storage; declared sizes within the memory limit), its layout and subgraph
    depth are checked, and the graph's numbers are validated (:func:`~neurokd.exporters.nir.validate.check_graph`)
    before anyone uses them.
    """
    from neurokd.exporters.nir.validate import check_graph

    path = Path(path)
    with open_hdf5(path, "NIR file") as f:
        _check_layout(f, path)
        try:
            tree = nir_serialization.hdf2dict(f["node"])  # what nir.read does, on the file already checked
        except OSError as e:
            raise UserError(f"NIR file {path}: unreadable HDF5 (truncated or corrupt: {first_line(e)})") from None
    check_graph(tree, f"NIR file {path}")  # before nir's node constructors compute with the values
    try:
        tree["type_check"] = False
        graph = nir.dict2NIRNode(tree)
    except (KeyError, ValueError, TypeError, AssertionError, AttributeError, IndexError, ArithmeticError) as e:
        raise UserError(f"NIR file {path}: malformed NIR graph ({type(e).__name__}: {first_line(e)})") from None
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
    _check_types(node, path, "", 0)


def _check_types(group: h5py.Group, path: Path, name: str, depth: int) -> None:
    """``name``: the node's dotted path in the graph ("" for the root); ``depth``: subgraphs above it."""
    kind = _as_str(group["type"][()]) if "type" in group else None
    if kind not in KNOWN_TYPES:
        where = f"node '{name}'" if name else "the root node"
        shown = repr(kind) if kind is None or len(kind) <= 40 else repr(kind[:40] + "...")
        raise UserError(f"NIR file {path}: {where} has unknown type {shown} (nir 1.0.8 knows "
                        f"{', '.join(KNOWN_TYPES)})")
    if kind == "NIRGraph":
        if depth >= limits().max_depth:
            raise UserError(f"NIR file {path}: subgraphs nest deeper than {limits().max_depth} levels at "
                            f"'{name}'; real graphs nest one or two (or raise {ENV['max_depth'][0]})")
        nodes = group.get("nodes")
        if not isinstance(nodes, h5py.Group) or "edges" not in group:
            raise UserError(f"NIR file {path}: graph '{name or '/'}' has no nodes/edges")
        for child_name, child in nodes.items():
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, h5py.Group):
                raise UserError(f"NIR file {path}: node '{full}' is not a group")
            _check_types(child, path, full, depth + 1)


def _as_str(v) -> str:
    return v.decode("utf8", "replace") if isinstance(v, bytes) else str(v)
