"""``neurokd export lava RUN [-o FILE]`` and ``neurokd simulate lava FILE``: netx ``.net`` chains and ``.lava``
residual graphs.

Registered by ``neurokd/cli/export_cmd.py`` / ``simulate_cmd.py`` (``register_export`` / ``register_simulate``);
heavy imports stay inside the run functions so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from neurokd.cli.common import add_data_arguments, add_json_argument, at_least, emit_json

LAVA_DEFAULT_LIMIT = 16  # Lava's simulator runs a few steps per second on the demo network


def register_export(targets) -> None:
    p = targets.add_parser(
        "lava", help="Lava / Loihi 2 network in fixed point (.net netx chain, .lava residual graph)",
        description="Fold BatchNorm, quantize an SNN run to Loihi 2 fixed point (8-bit weights, 12-bit decays, "
                    "threshold mantissa) and write it: a chain of layers as a netx .net file for lava-dl's "
                    "netx.hdf5.Network, a residual network (ResNets) as a .lava graph file (populations, "
                    "projections, synaptic delays; docs/lava.md). Print the per-layer quantization report and "
                    "check the fixed-point network (bit-accurate NumPy model) against the float SNN on test data.")
    p.add_argument("run", metavar="RUN", help="SNN run folder, model.safetensors or checkpoint")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="output file: .net (netx chain) or .lava (graph, any model) (default: model.net, or "
                        "model.lava for a residual network, in the run folder)")
    p.add_argument("--T", type=at_least(1), default=None, help="time steps per sample (default: the model's)")
    p.add_argument("--input-bits", type=int, default=8, help="graded input spike bits (direct encoding)")
    p.add_argument("--calibration", type=at_least(1), default=2048, metavar="N",
                   help="training samples that set the input range")
    p.add_argument("--verify", type=at_least(0), default=512, metavar="N",
                   help="compare float and fixed-point predictions on N test samples (0: skip)")
    add_json_argument(p, "the quantization report and the check")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_arguments(p)
    p.set_defaults(func=run_export)


def register_simulate(targets) -> None:
    p = targets.add_parser(
        "lava", help="run a .net / .lava file: bit-accurate NumPy model or the Lava simulator",
        description="Run an exported .net or .lava file on a dataset split with the bit-accurate NumPy model "
                    "(fast, no Lava needed) or on Lava's fixed-point CPU simulator (lava-dl's netx loader for a "
                    ".net file, a Lava process network for a .lava graph; slow: defaults to the first "
                    f"{LAVA_DEFAULT_LIMIT} samples). Prints accuracy, spikes per layer and simulated time steps per "
                    "second.")
    p.add_argument("file", metavar="FILE", help="exported .net or .lava file")
    p.add_argument("--backend", choices=["numpy", "lava"], default="numpy", help="simulator")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="dataset split")
    p.add_argument("--limit", type=at_least(1), default=None, metavar="N",
                   help=f"first N samples (default: all for numpy, {LAVA_DEFAULT_LIMIT} for lava)")
    p.add_argument("--batch-size", type=at_least(1), default=128, help="NumPy model batch size")
    add_json_argument(p, "accuracy, spikes per layer and speed")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_arguments(p)
    p.set_defaults(func=run_simulate)


def split_arrays(split, limit: int | None = None):
    """``(x, y)`` numpy arrays of the first ``limit`` samples of a :class:`~neurokd.data.Split` (event data
    time-major, ``x [T, N, ...]``)."""
    x, y = split.tensors(limit)
    return x.numpy(), y.numpy()


def verify_export(model, path: Path, x, y, progress: bool = False) -> dict[str, float]:
    """Float SNN vs the exported fixed-point network (NumPy model) on ``x``: accuracies and agreement."""
    import torch

    from neurokd.exporters.lava.simulation import simulate

    with torch.no_grad():
        float_pred = model(torch.from_numpy(x)).argmax(1).numpy()
    res = simulate(path, x, backend="numpy", progress=progress)
    return {"n": int(len(y)), "float_acc": float((float_pred == y).mean()), "fixed_acc": res.accuracy(y),
            "agreement": float((res.predictions == float_pred).mean()), "numpy_steps_per_s": res.steps_per_s}


def run_export(args: argparse.Namespace) -> int:
    from neurokd.config import data_identity
    from neurokd.configlib import overrides_from_args
    from neurokd.data import load_dataset, take_split
    from neurokd.exporters.lava.export import default_name, lava_form, to_lava
    from neurokd.guard import check_inference
    from neurokd.runs import Run

    run = Run.open(args.run)
    model = run.model(T=args.T)
    check_inference(model.spec, model.spec.T, max(args.verify, 1), f"{args.run} (--verify {args.verify})")
    model_file = run.model_file
    dcfg = run.data_config(overrides_from_args(args))
    out = Path(args.output) if args.output else (run.folder or model_file.parent) / default_name(lava_form(model))
    lava_form(model, out)  # a residual model asked for as .net: refuse before loading data
    T = model.T if model.is_snn else None
    splits = load_dataset(dcfg, run.seed, T=T)
    calib, _ = split_arrays(take_split(splits, dcfg, "train", run.seed), args.calibration)
    report, form = to_lava(model, out, calibration=calib, input_bits=args.input_bits,
                           meta={"source": str(model_file), "data": data_identity(dcfg)})
    result: dict[str, Any] = {"path": str(out), "form": form, "report": report.to_dict()}
    if args.verify:
        x, y = split_arrays(take_split(splits, dcfg, "test", run.seed), args.verify)
        result["verify"] = verify_export(model, out, x, y, progress=not args.no_progress)
    if emit_json(args.json, result):
        return 0
    print(report.table())
    if args.verify:
        v = result["verify"]
        print(f"\n{dcfg.name} test, {v['n']} samples: float SNN acc {v['float_acc']:.4f}, fixed point (NumPy "
              f"bit-accurate) acc {v['fixed_acc']:.4f}, same prediction {v['agreement']:.2%}")
    print(f"wrote {out} ({'netx chain' if form == 'netx' else 'Lava graph'})")
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from neurokd.config import merge_data_config
    from neurokd.configlib import overrides_from_args
    from neurokd.data import load_split
    from neurokd.errors import UserError
    from neurokd.exporters.lava.files import read_lava
    from neurokd.exporters.lava.netx_reader import STATE_BYTES_PER_NEURON
    from neurokd.exporters.lava.numpy_sim import as_graph
    from neurokd.exporters.lava.simulation import simulate
    from neurokd.limits import check_memory
    from neurokd.tables import markdown_table

    path = Path(args.file)
    net = read_lava(path)
    neurons = sum(math.prod(p.shape) for p in as_graph(net).populations)
    check_memory(neurons * STATE_BYTES_PER_NEURON * args.batch_size, f"{path}: --batch-size {args.batch_size} "
                 f"of {neurons:,} neurons", "use a smaller --batch-size")
    base = net.meta.get("data") if isinstance(net.meta.get("data"), dict) else {}
    if not base and "cfg:data.name" not in vars(args):
        raise UserError(f"{path} records no dataset; pass --dataset")
    dcfg = merge_data_config(base, overrides_from_args(args))
    limit = args.limit if args.limit is not None else (LAVA_DEFAULT_LIMIT if args.backend == "lava" else None)
    T = int(net.meta["T"]) if "T" in net.meta else None
    x, y = split_arrays(load_split(dcfg, args.split, T=T, progress=not args.no_progress), limit)
    res = simulate(path, x, backend=args.backend, batch_size=args.batch_size, progress=not args.no_progress)
    summary = {"file": str(path), "backend": args.backend, "dataset": dcfg.name, "split": args.split, "n": res.n,
               "T": res.T, "acc": res.accuracy(y), "seconds": res.seconds, "steps_per_s": res.steps_per_s,
               "latency_steps": res.latency,
               "layers": [{"name": nm, "neurons": sz, "spikes_per_sample": sp, "rate": rt} for nm, sz, sp, rt in
                          zip(res.layer_names, res.layer_sizes, res.spikes_per_sample(), res.firing_rates())]}
    if emit_json(args.json, summary):
        return 0
    print(markdown_table(["backend", "dataset", "split", "n", "T", "acc", "seconds", "steps/s"],
                         [[args.backend, dcfg.name, args.split, res.n, res.T, summary["acc"], res.seconds,
                           res.steps_per_s]]))
    print()
    roles = [p.attrs.get("role", "spiking") for p in as_graph(net).populations]
    print(markdown_table(["layer", "role", "neurons", "spikes/sample", "rate/step"],
                         [[la["name"], role, la["neurons"], la["spikes_per_sample"], la["rate"]]
                          for la, role in zip(summary["layers"], roles)]))
    print(f"\nlatency: {res.latency} steps (one per synapse layer, plus delays); prediction: argmax of the readout "
          "layer's membrane")
    return 0


LAYER_HEADERS = ["layer", "type", "name", "shape", "weights", "bias", "iDecay", "vDecay", "vThMant", "scale"]
POPULATION_HEADERS = ["population", "role", "shape", "neurons", "inputs", "depth", "bias", "iDecay", "vDecay",
                      "vThMant", "scale"]
PROJECTION_HEADERS = ["projection", "type", "source", "target", "weights", "exp", "delay"]


def _int_range(a) -> str:
    return "-" if a is None else f"[{a.min()}, {a.max()}]"


def inspect_file(path: Path, json_target: str | None = None) -> int:
    """``neurokd inspect FILE.net`` / ``FILE.lava``: the network's metadata and its layer tables (a netx file of
    any writer, or a neurokd Lava graph; told apart by content)."""
    from neurokd.exporters.lava.files import read_lava
    from neurokd.exporters.lava.graph import LavaGraph

    net = read_lava(path)
    if isinstance(net, LavaGraph):
        return _inspect_graph(path, net, json_target)
    return _inspect_netx(path, net, json_target)


def _print_summary(path: Path, what: str, meta: dict, params: int, tables: dict[str, list], json_target: str | None) -> int:
    from neurokd.tables import markdown_table

    if emit_json(json_target, {"file": str(path), "metadata": meta, "parameters": params,
                               **{k: [dict(zip(h, r)) for r in rows] for k, (h, rows) in tables.items()}}):
        return 0
    print(f"{path}: {what}, {params:,} weights")
    print("metadata: " + (", ".join(f"{k}={v}" for k, v in meta.items()) or "none (not written by neurokd)"))
    for head, rows in tables.values():
        print()
        print(markdown_table(head, rows))
    return 0


def _inspect_netx(path: Path, net, json_target: str | None) -> int:
    import numpy as np

    from neurokd.exporters.lava.netx import ConvLayer, DenseLayer

    rows = []
    for i, la in enumerate(net.layers):
        row: list[Any] = [i, la.kind, "", "x".join(map(str, la.shape)), "", "", "", "", "", ""]
        if isinstance(la, ConvLayer | DenseLayer):
            w = la.weight
            row[2] = la.attrs.get("name", "")
            row[4] = f"{'x'.join(map(str, w.shape))} in {_int_range(w)}"
            row[5] = _int_range(la.bias)
            row[6:9] = [la.neuron.i_decay, la.neuron.v_decay, la.neuron.v_th_mant]
            row[9] = la.attrs.get("scale", "")
        rows.append(row)
    meta = {k: v for k, v in net.meta.items() if k != "report"}
    params = int(sum(np.asarray(la.weight).size for la in net.synaptic_layers))
    what = (f"netx network, {len(net.synaptic_layers)} conv/dense layers, "
            f"{sum(int(np.prod(la.shape)) for la in net.synaptic_layers):,} neurons")
    return _print_summary(path, what, meta, params, {"layer_table": (LAYER_HEADERS, rows)}, json_target)


def _inspect_graph(path: Path, graph, json_target: str | None) -> int:
    depths = graph.depths()
    pops = [[p.name, p.attrs.get("role", ""), "x".join(map(str, p.shape)), p.size, len(graph.incoming(p.name)), d,
             _int_range(p.bias), p.neuron.i_decay, p.neuron.v_decay, p.neuron.v_th_mant, p.attrs.get("scale", "")]
            for p, d in zip(graph.populations, depths)]
    projs = [[pr.name, pr.attrs.get("kind", pr.kind), pr.source, pr.target,
              f"{'x'.join(map(str, pr.weight.shape))} in {_int_range(pr.weight)}", pr.weight_exp, pr.delay]
             for pr in graph.projections]
    meta = {k: v for k, v in graph.meta.items() if k != "report"}
    params = int(sum(pr.weight.size for pr in graph.projections))
    fan_in = max(len(graph.incoming(p.name)) for p in graph.populations)
    what = (f"Lava graph, {len(graph.populations)} populations ({sum(p.size for p in graph.populations):,} "
            f"neurons), {len(graph.projections)} projections (fan-in up to {fan_in}), latency {depths[-1]} steps")
    return _print_summary(path, what, meta, params, {"populations": (POPULATION_HEADERS, pops),
                                                     "projections": (PROJECTION_HEADERS, projs)}, json_target)
