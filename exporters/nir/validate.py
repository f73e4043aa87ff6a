"""Every number in a NIR graph checked for its meaning before anything uses it.

:func:`check_graph` runs on every graph :func:`~neurokd.exporters.nir.files.read` returns and every graph
:func:`~neurokd.exporters.nir.importer.from_nir` is given. A graph that breaks a rule is *invalid* (one
:class:`~neurokd.errors.UserError` line naming the node and the field); a valid graph that neurokd cannot run
(a ``CubaLIF``, a nonzero ``v_reset``) is the importer's business, not this module's. The rules, by meaning:

| fields | rule |
|---|---|
| weights (``Affine``, ``Linear``: 2-D; ``Conv1d``: 3-D; ``Conv2d``: 4-D) | real (not complex), finite, no empty axis |
| ``bias``, ``scale``, thresholds, ``v_leak``, ``v_reset``, ``w_in`` | real and finite |
| ``tau``, ``tau_mem``, ``tau_syn`` (seconds), ``r`` | real, > 0; ``inf`` allowed (no leak: snnTorch writes ``tau = r = inf`` for ``beta = 1``) |
| ``stride``, ``dilation``, ``kernel_size``, ``groups`` | exact integers in [1, 2^20]; ``groups`` divides the output channels |
| ``padding`` | exact integers in [0, 2^20], or ``'same'`` (stride 1 only) / ``'valid'`` |
| ``start_dim``, ``end_dim`` | exact integers in [-32, 31] |
| ``Input`` / ``Output`` shapes | 1 to 8 exact integers in [1, 2^31) |
| ``Delay.delay`` | real, finite, >= 0 |
| metadata neurokd honours | ``dt`` finite > 0; ``beta`` in (0, 1]; ``threshold`` finite > 0; ``T`` an integer >= 1; ``encoding`` a neurokd encoder; ``output_size`` exact integers >= 1 |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nir
import numpy as np

from neurokd.errors import UserError
from neurokd.exporters.nir.convention import plain_metadata
from neurokd.limits import ENV, limits
from neurokd.snn.encoders import ENCODERS

MAX_INT = 1 << 20  # strides, kernels, paddings, dilations, groups: far beyond any real layer
MAX_DIM = 1 << 31
_Rule = Callable[[Any], str | None]


def _numeric(v: Any) -> tuple[np.ndarray | None, str | None]:
    try:
        a = np.asarray(v)
    except (ValueError, TypeError):
        return None, "is not an array of numbers"
    if a.dtype.kind == "c":
        return None, "holds complex values"
    if a.dtype.kind not in "biuf":
        return None, f"is not numeric (dtype {a.dtype})"
    return a, None


def real(v: Any) -> str | None:
    a, problem = _numeric(v)
    if problem:
        return problem
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        return "holds NaN or infinite values"
    return None


def positive_or_inf(v: Any) -> str | None:
    a, problem = _numeric(v)
    if problem:
        return problem
    if a.dtype.kind == "f" and np.any(np.isnan(a)):
        return "holds NaN"
    if a.size == 0 or not np.all(a > 0):
        return "must be > 0 (inf allowed: no leak)"
    return None


def non_negative(v: Any) -> str | None:
    return real(v) or (None if np.all(np.asarray(v) >= 0) else "must be >= 0")


def weight(ndim: int) -> _Rule:
    def rule(v: Any) -> str | None:
        problem = real(v)
        if problem:
            return problem
        shape = np.shape(v)
        if len(shape) != ndim:
            return f"must be {ndim}-D, got shape {list(shape)}"
        if 0 in shape:
            return f"is empty (shape {list(shape)})"
        return None
    return rule


def integers(lo: int, hi: int, scalar: bool = False) -> _Rule:
    """Exact integers in ``[lo, hi]`` (a float array of whole numbers counts); one value if ``scalar``."""
    def rule(v: Any) -> str | None:
        a, problem = _numeric(v)
        if problem:
            return problem
        if a.ndim > 1 or a.size == 0 or (scalar and a.size != 1):
            return f"must be {'one integer' if scalar else 'one or a few integers'}, got shape {list(a.shape)}"
        f = a.astype(np.float64)
        if not np.all(np.isfinite(f)) or not np.all(f == np.round(f)):
            return f"must hold whole numbers, got {a.tolist()}"
        if np.any(f < lo) or np.any(f > hi):
            return f"must be between {lo} and {hi}, got {a.tolist()}"
        return None
    return rule


def padding_text(v: Any) -> str | None:
    """A padding given as text (``'same'``, ``'valid'``; str, bytes or a string array), else None."""
    if isinstance(v, np.ndarray) and v.dtype.kind in "SUO" and v.size == 1:
        v = v.reshape(-1)[0]
    if isinstance(v, bytes):
        return v.decode("utf8", "replace")
    return v if isinstance(v, str) else None


def padding(v: Any) -> str | None:
    text = padding_text(v)
    if text is not None:
        return None if text in ("same", "valid") else f"must be numbers, 'same' or 'valid', got {text[:20]!r}"
    return integers(0, MAX_INT)(v)


def shape(v: Any) -> str | None:
    return integers(1, MAX_DIM - 1)(v) or (None if np.size(v) <= 8 else "has more than 8 dimensions")


_CONV = {"bias": real, "stride": integers(1, MAX_INT), "padding": padding, "dilation": integers(1, MAX_INT),
         "groups": integers(1, MAX_INT, scalar=True), "input_shape": integers(1, MAX_DIM - 1)}
_POOL = {"kernel_size": integers(1, MAX_INT), "stride": integers(1, MAX_INT), "padding": integers(0, MAX_INT)}
_TAU, _R = positive_or_inf, positive_or_inf
_FINITE_R = lambda v: real(v) or positive_or_inf(v)  # noqa: E731 - IF/I: the input gain is r * dt
# node type -> field -> rule; ``shape`` is an Input/Output node's shape (``input_type`` / ``output_type`` in nir)
FIELDS: dict[str, dict[str, _Rule]] = {
    "Affine": {"weight": weight(2), "bias": real},
    "Linear": {"weight": weight(2)},
    "Conv1d": {"weight": weight(3), **_CONV},
    "Conv2d": {"weight": weight(4), **_CONV},
    "AvgPool2d": _POOL,
    "SumPool2d": _POOL,
    "Flatten": {"start_dim": integers(-32, 31, scalar=True), "end_dim": integers(-32, 31, scalar=True),
                "input_type": shape},
    "Scale": {"scale": real},
    "Threshold": {"threshold": real},
    "Delay": {"delay": non_negative},
    "I": {"r": _FINITE_R},
    "IF": {"r": _FINITE_R, "v_threshold": real, "v_reset": real},
    "LI": {"tau": _TAU, "r": _R, "v_leak": real},
    "LIF": {"tau": _TAU, "r": _R, "v_leak": real, "v_threshold": real, "v_reset": real},
    "CubaLI": {"tau_syn": _TAU, "tau_mem": _TAU, "r": _R, "v_leak": real, "w_in": real},
    "CubaLIF": {"tau_syn": _TAU, "tau_mem": _TAU, "r": _R, "v_leak": real, "v_threshold": real,
                "v_reset": real, "w_in": real},
    "Input": {"shape": shape},
    "Output": {"shape": shape},
}
META: dict[str, _Rule] = {
    "dt": lambda v: real(v) or (None if np.size(v) == 1 and float(np.asarray(v).reshape(-1)[0]) > 0
                                else "must be one number > 0 (seconds)"),
    "beta": lambda v: real(v) or (None if np.size(v) == 1 and 0 < float(np.asarray(v).reshape(-1)[0]) <= 1
                                  else "must be one number in (0, 1]"),
    "threshold": lambda v: real(v) or (None if np.size(v) == 1 and float(np.asarray(v).reshape(-1)[0]) > 0
                                       else "must be one number > 0"),
    "T": integers(1, MAX_DIM - 1, scalar=True),
    "output_size": integers(1, MAX_INT),
    "encoding": lambda v: None if v in ENCODERS else f"must be one of {', '.join(ENCODERS)}, got {str(v)[:20]!r}",
}


def _check_meta(meta: Any, where: str) -> None:
    for key, value in plain_metadata(meta if isinstance(meta, dict) else {}).items():
        if key == "node_metadata" and isinstance(value, dict):  # a NIR 1.0.4 file keeps node metadata here
            for name, sub in value.items():
                _check_meta(sub, f"{where}: metadata of node '{name}'")
            continue
        rule = META.get(key)
        problem = rule(value) if rule else None
        if problem:
            raise UserError(f"{where}: metadata '{key}' {problem}")


def _node_fields(node: nir.NIRNode | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(type name, field -> value) of a node object or of a node read from a file (a dict)."""
    if isinstance(node, dict):
        kind = node.get("type")
        kind = kind.decode("utf8", "replace") if isinstance(kind, bytes) else str(kind)
        return kind, node
    fields = dict(vars(node))
    for key in ("input_type", "output_type"):  # nir keeps shapes as {"input": shape} / {"output": shape}
        if isinstance(fields.get(key), dict):
            fields[key] = next(iter(fields[key].values()), None)
    if isinstance(node, nir.Input | nir.Output):
        fields["shape"] = fields["input_type" if isinstance(node, nir.Input) else "output_type"]
    return type(node).__name__, fields


def check_node(node: nir.NIRNode | dict[str, Any], name: str, source: str) -> None:
    """Raise a one-line :class:`UserError` (``source``: the file, for the message) if a field breaks its rule.
    ``node``: a nir node, or its fields as read from a file (checked before nir's constructors use them)."""
    kind, fields = _node_fields(node)
    where = f"{source}: node '{name}' ({kind})"
    for field, rule in FIELDS.get(kind, {}).items():
        value = fields.get(field)
        if value is None:
            continue
        problem = rule(value)
        if problem:
            raise UserError(f"{where}: {field} {problem}")
    if kind in ("Conv1d", "Conv2d") and fields.get("weight") is not None and fields.get("groups") is not None:
        groups = int(np.asarray(fields["groups"]).reshape(-1)[0])
        if np.shape(fields["weight"])[0] % groups:
            raise UserError(f"{where}: groups = {groups} does not divide the {np.shape(fields['weight'])[0]} "
                            "output channels")
        if padding_text(fields.get("padding")) == "same" and np.any(np.asarray(fields.get("stride", 1)) != 1):
            raise UserError(f"{where}: padding 'same' needs stride 1, got stride "
                            f"{np.asarray(fields['stride']).tolist()}")
    _check_meta(fields.get("metadata"), where)


def check_graph(graph: nir.NIRGraph | dict[str, Any], source: str, depth: int = 0) -> None:
    """Validate every node of ``graph`` and of its subgraphs (at most ``max_depth`` deep). ``graph``: a
    ``nir.NIRGraph``, or the tree of dicts a file holds (``nir.serialization.hdf2dict``)."""
    if depth > limits().max_depth:
        raise UserError(f"{source}: subgraphs nest deeper than {limits().max_depth} levels (or raise "
                        f"{ENV['max_depth'][0]})")
    is_tree = isinstance(graph, dict)
    _check_meta(graph.get("metadata") if is_tree else graph.metadata, source)
    nodes = graph.get("nodes") if is_tree else graph.nodes
    for name, node in (nodes or {}).items() if isinstance(nodes, dict) else ():
        kind = _node_fields(node)[0] if isinstance(node, dict) else type(node).__name__
        if kind == "NIRGraph":
            check_graph(node, f"{source}: subgraph '{name}'", depth + 1)
        else:
            check_node(node, name, source)
