"""Read and validate a ``.lava`` graph file (layout: :mod:`~neurokd.exporters.lava.graph_writer`) into a
:class:`~neurokd.exporters.lava.graph.LavaGraph`; every malformation is a one-line :class:`GraphFormatError`.

Checked as strictly as netx files (:mod:`~neurokd.exporters.lava.netx_reader`, whose field readers this
reuses): integer datasets, Loihi's ranges (8-bit weight mantissas, bias, decays, threshold, weight exponent,
delay), names that resolve, every projection's shape arithmetic against its source and target, populations in
topological order, and every population's inputs arriving after the same number of steps.
"""

from __future__ import annotations

import math
from pathlib import Path

from neurokd.exporters.lava.graph import (
    DELAY_MAX,
    FORMAT,
    INPUT,
    WEIGHT_EXP_MAX,
    GraphFormatError,
    LavaGraph,
    Population,
    Projection,
)
from neurokd.exporters.lava.netx_reader import MAX_SIZE, _decode_attr, _Reader

# 8-bit signed mantissas: what Lava's Dense/Sparse models hold exactly in every sign mode (graph_processes)
MANTISSA_MIN, MANTISSA_MAX = -128, 127


class _GraphReader(_Reader):
    what, error = "Lava graph file", GraphFormatError

    def fail(self, where: str, what: str) -> GraphFormatError:
        return GraphFormatError(f"{self.path}: {where}: {what}")

    def read(self) -> LavaGraph:
        with self.open() as f:
            fmt = _decode_attr(f.attrs.get("format", ""))
            if fmt != FORMAT:
                what = "a netx .net file (read it with read_netx)" if "layer" in f else f"format {fmt!r}"
                raise self.fail("/", f"not a neurokd Lava graph file ({FORMAT}): {what}")
            meta = {k: _decode_attr(v) for k, v in f.attrs.items() if k != "format"}
            in_shape = self.shape(f["input"] if "input" in f else f, "input")
            pops = [self.population(g, f"population/{i}") for i, g in self.groups(f, "population")]
            projs = [self.projection(g, f"projection/{j}") for j, g in self.groups(f, "projection")]
        graph = LavaGraph(in_shape, pops, projs, meta)
        self.check(graph)
        return graph

    def groups(self, f, key: str):
        if key not in f or not hasattr(f[key], "keys"):
            raise self.fail("/", f"no '{key}' group")
        keys = list(f[key].keys())
        if not keys:
            raise self.fail(key, "is empty")
        if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
            raise self.fail(key, f"entries must be named 0..{len(keys) - 1}, found {sorted(keys)}")
        return [(i, f[key][str(i)]) for i in range(len(keys))]

    def shape(self, g, where: str) -> tuple[int, ...]:
        shape = tuple(int(s) for s in self.ints(g, "shape", where).reshape(-1))
        if len(shape) not in (1, 3) or any(s < 1 or s > MAX_SIZE for s in shape):
            raise self.fail(where, f"'shape' must be (C, H, W) or (N,) with sizes in [1, {MAX_SIZE}], got "
                                   f"{list(shape)}")
        return shape

    def population(self, g, where: str) -> Population:
        name = self.string(g, "name", where)
        shape = self.shape(g, where)
        bias = self.bias(g, where, shape[0]) if "bias" in g else None
        if "neuron" not in g:
            raise self.fail(where, "missing 'neuron'")
        attrs = {k: _decode_attr(v) for k, v in g.attrs.items()}
        return Population(name, shape, self.neuron(g, where), bias, attrs)

    def projection(self, g, where: str) -> Projection:
        names = {k: self.string(g, k, where) for k in ("name", "source", "target", "type")}
        w = self.ints(g, "weight", where)
        if w.size and (w.min() < MANTISSA_MIN or w.max() > MANTISSA_MAX):
            raise self.fail(where, f"weight mantissas span [{w.min()}, {w.max()}], outside the 8-bit "
                                   f"[{MANTISSA_MIN}, {MANTISSA_MAX}] (larger weights take a weightExp)")
        exp, delay = self.scalar(g, "weightExp", where), self.scalar(g, "delay", where)
        if not 0 <= exp <= WEIGHT_EXP_MAX:
            raise self.fail(where, f"weightExp {exp} is outside [0, {WEIGHT_EXP_MAX}]")
        if not 0 <= delay <= DELAY_MAX:
            raise self.fail(where, f"delay {delay} is outside Loihi 2's [0, {DELAY_MAX}] steps")
        attrs = {k: _decode_attr(v) for k, v in g.attrs.items()}
        kind = names["type"]
        if kind == "dense":
            if w.ndim != 2:
                raise self.fail(where, f"dense 'weight' must be 2-D (out, in), got {list(w.shape)}")
            return Projection(names["name"], names["source"], names["target"], w, exp, delay, attrs=attrs)
        if kind != "conv":
            raise self.fail(where, f"projection type {kind!r} is not 'conv' or 'dense'")
        if w.ndim != 4:
            raise self.fail(where, f"conv 'weight' must be 4-D (out, in/groups, kH, kW), got {list(w.shape)}")
        groups = self.scalar(g, "groups", where)
        if groups < 1 or w.shape[0] % groups:
            raise self.fail(where, f"groups {groups} does not divide the {w.shape[0]} output channels")
        return Projection(names["name"], names["source"], names["target"], w, exp, delay,
                          self.pair(g, "stride", where, 1), self.pair(g, "padding", where, 0),
                          self.pair(g, "dilation", where, 1), groups, attrs)

    def check(self, graph: LavaGraph) -> None:
        """Names, shapes (each projection against its source and target) and alignment."""
        pos = graph.index()
        if len(pos) != len(graph.populations) or INPUT in pos:
            raise self.fail("population", f"names must be unique and not {INPUT!r}")
        for j, pr in enumerate(graph.projections):
            where = f"projection/{j}"
            for end in (pr.source, pr.target):
                if end != INPUT and end not in pos:
                    raise self.fail(where, f"names population {end!r}, which does not exist")
            if pr.target == INPUT:
                raise self.fail(where, "projects into the input")
            src, dst = graph.source_shape(pr.source), graph.source_shape(pr.target)
            if pr.kind == "conv":
                if len(src) != 3 or pr.in_channels != src[0]:
                    raise self.fail(where, f"conv expects {pr.in_channels} input channels (groups={pr.groups}), "
                                           f"its source {pr.source!r} has shape {list(src)}")
            elif pr.weight.shape[1] != math.prod(src):
                raise self.fail(where, f"dense 'weight' has {pr.weight.shape[1]} inputs, its source "
                                       f"{pr.source!r} has shape {list(src)}")
            if tuple(pr.output_shape(src)) != tuple(dst):
                raise self.fail(where, f"produces shape {list(pr.output_shape(src))} but its target {pr.target!r} "
                                       f"has shape {list(dst)}")
        try:
            graph.depths()
        except ValueError as e:
            raise self.fail("projection", str(e)) from None


def read_graph(path: str | Path) -> LavaGraph:
    """Read and validate a ``.lava`` graph file; malformed files raise :class:`GraphFormatError`."""
    return _GraphReader(Path(path)).read()


__all__ = ["read_graph"]
