"""CLI for NIR: ``neurokd export nir RUN -o model.nir``, ``neurokd simulate nir model.nir`` and
``neurokd inspect model.nir``.

Plugged into ``neurokd/cli/export_cmd.py`` (``TARGETS`` / ``INSPECTORS``). Heavy imports stay inside the run
functions so building the ``neurokd`` parser stays fast.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from neurokd.cli.common import add_data_arguments, add_json_argument, at_least, emit_json


def register_export(targets) -> None:
    p = targets.add_parser(
        "nir", help="NIR graph (.nir, HDF5) for any NIR backend",
        description="Export an SNN run to a NIR graph (BatchNorm folded, Euler LIF/IF, dt and reset in the "
                    "metadata), re-import it and check it spike for spike on the run's test data.")
    p.add_argument("run", metavar="RUN", help="SNN run folder, model.safetensors or checkpoint")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="output .nir file (default: model.nir in the run folder)")
    p.add_argument("--dt", type=float, default=None,
                   help="time step in seconds for the Euler mapping (default: 1e-4, as snnTorch reads NIR)")
    p.add_argument("--T", type=at_least(1), default=None,
                   help="time steps to record in the graph (default: the model's)")
    p.add_argument("--verify", type=at_least(0), default=64, metavar="N",
                   help="re-import and compare spike trains on N test samples (0: skip)")
    p.add_argument("--compress", action="store_true",
                   help="gzip the arrays (about 40%% smaller for large networks, about 5x slower)")
    p.add_argument("--nir-version", choices=["1.0.8", "1.0.4"], default="1.0.8",
                   help="NIR file version: 1.0.4 for readers that pin it (Sinabs 3.1, Rockpool 3.1; "
                        "docs/nir.md); the fields it lacks are described in the node metadata")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from neurokd.api import nir_graph
    from neurokd.errors import UserError
    from neurokd.exporters.nir.files import save
    from neurokd.exporters.nir.summary import graph_info
    from neurokd.guard import check_inference
    from neurokd.runs import Run

    run = Run.open(args.run)
    model = run.model(T=args.T)
    if not model.is_snn:
        raise UserError(f"{args.run}: a {model.spec.arch} ANN; NIR export needs an SNN run (model.kind snn)")
    check_inference(model.spec, model.spec.T, max(args.verify, 1), f"{args.run} (--verify {args.verify})")
    graph = nir_graph(model, args.dt, run)  # records the run's dataset, for `eval|report FILE.nir`
    with warnings.catch_warnings(record=True) as caught:  # a legacy version's notice, printed as one line
        warnings.simplefilter("always", UserWarning)
        out = save(graph, args.output or (run.folder or run.model_file.parent) / "model.nir",
                   compression="gzip" if args.compress else None, nir_version=args.nir_version)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    info = graph_info(graph)
    print(f"wrote {out} (NIR {args.nir_version}): {info['nodes']} nodes, {info['edges']} edges, "
          f"{info['params']:,} parameters, {info['neurons']:,} neurons, dt={info['metadata']['dt']:g} s, "
          f"T={model.T}, reset={info['metadata']['reset']}")
    if args.verify > 0:
        report, where = _verify(run, model, out, args.verify)
        status = "identical" if report["spike_equal"] and report["output_equal"] else "DIFFERENT"
        print(f"re-import check on {where}: spike trains {status} ({report['layers']} neuron layers, "
              f"{report['spikes']:,} spikes, {report['mismatches']} mismatches, outputs "
              f"{'equal' if report['output_equal'] else 'differ'})")
        if status != "identical":
            return 1
    return 0


def _verify(run, model, out: Path, n: int):
    """Compare the BN-folded model with the re-imported file on ``n`` test samples (random if no dataset)."""
    import torch

    from neurokd.exporters.nir.importer import from_nir
    from neurokd.exporters.nir.verify import compare_spikes
    from neurokd.models.fold import fold_batchnorm

    x, where = _test_inputs(run, model, n)
    if x is None:
        x = torch.rand(n, *model.spec.input_shape, generator=torch.Generator().manual_seed(0))
    return compare_spikes(fold_batchnorm(model), from_nir(out), x), where


def _test_inputs(run, model, n: int):
    """First ``n`` test samples of the run's dataset at the model's T, or ``(None, reason)`` where there is no run
    config (or its data cannot be loaded)."""
    from neurokd.errors import UserError

    if not run.has_config:
        return None, f"{n} random inputs in [0, 1) (no run folder config to load test data from)"
    try:
        split = run.split("test", T=model.T)
    except UserError as e:
        print(f"note: test data unavailable ({e}); checking on random inputs", file=sys.stderr)
        return None, f"{n} random inputs in [0, 1)"
    x, y = split.tensors(n)
    return x, f"{len(y)} {split.data.name} test samples"


def register_simulate(targets) -> None:
    p = targets.add_parser(
        "nir", help="run a .nir graph with neurokd's importer (float, spike-exact with the exported SNN)",
        description="Run a NIR graph on a dataset split through neurokd's importer and report accuracy, spikes per "
                    "neuron node and simulated time steps per second. The dataset is the one the file records "
                    "(written by `neurokd export nir` from a run) or --dataset.")
    p.add_argument("file", metavar="FILE", help="NIR file (.nir)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="dataset split")
    p.add_argument("--limit", type=at_least(1), default=None, metavar="N", help="first N samples (default: all)")
    p.add_argument("--T", type=at_least(1), default=None, help="time steps per sample (default: the file's T)")
    add_json_argument(p, "accuracy, spikes per node and speed")
    add_data_arguments(p)
    p.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    import time

    from neurokd.configlib import overrides_from_args
    from neurokd.exporters.nir.verify import record_spikes
    from neurokd.sources import open_model
    from neurokd.tables import markdown_table

    source = open_model(args.file, T=args.T)
    split = source.split(args.split, overrides_from_args(args))
    net, axis = source.model.net, 1 if split.data.time_bins else 0
    x, y = split.tensors(args.limit)
    spikes: dict[str, float] = {}
    correct, seconds = 0, 0.0
    for lo in range(0, len(y), split.loader.batch_size):  # the split's evaluation batches
        xb = x.narrow(axis, lo, min(split.loader.batch_size, len(y) - lo))
        t0 = time.perf_counter()
        out, trains = record_spikes(net, xb)
        seconds += time.perf_counter() - t0
        correct += int((out.mean(0).argmax(1) == y[lo:lo + xb.shape[axis]]).sum())
        for node, s in trains.items():
            spikes[node] = spikes.get(node, 0.0) + float(s.sum())
    n = int(len(y))
    summary = {"file": str(args.file), "dataset": split.data.name, "split": args.split, "n": n, "T": source.T,
               "acc": correct / n, "seconds": round(seconds, 4), "steps_per_s": round(n * source.T / seconds, 1),
               "nodes": [{"node": k, "spikes_per_sample": v / n} for k, v in spikes.items()]}
    if emit_json(args.json, summary):
        return 0
    keys = ["dataset", "split", "n", "T", "acc", "seconds", "steps_per_s"]
    print(markdown_table(keys, [[summary[k] for k in keys]]))
    print()
    print(markdown_table(["node", "spikes/sample"], [[d["node"], d["spikes_per_sample"]] for d in summary["nodes"]]))
    return 0


def inspect_file(path: Path, json_target: str | None = None) -> int:
    """``neurokd inspect FILE.nir``: graph metadata and a node table."""
    from neurokd.errors import UserError
    from neurokd.exporters.nir.files import read
    from neurokd.exporters.nir.summary import NODE_HEADERS, graph_info, node_rows
    from neurokd.tables import markdown_table

    graph = read(path)
    try:  # node contents come from the file: arrays of any shape or type may sit where numbers should
        info = graph_info(graph)
        rows = node_rows(graph)
        runnable = _runnable(graph)
        meta = ", ".join(f"{k}={v}" for k, v in info["metadata"].items()) or "none"
        head = (f"{path}: NIR graph, {info['nodes']} nodes, {info['edges']} edges, {info['params']:,} parameters, "
                f"{info['neurons']:,} neurons")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RuntimeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"NIR file {path}: malformed node data ({type(e).__name__}: {first[:160]})") from None
    if emit_json(json_target, {"file": str(path), **info, "runs_in_neurokd": runnable,
                               "node_table": [dict(zip(NODE_HEADERS, r)) for r in rows]}):
        return 0
    print(head)
    print(f"metadata: {meta}")
    print(f"runs in neurokd: {runnable}\n")
    print(markdown_table(NODE_HEADERS, rows))
    return 0


def _runnable(graph) -> str:
    from neurokd.errors import UserError
    from neurokd.exporters.nir.importer import from_nir

    try:
        from_nir(graph)
    except UserError as e:
        return "no: " + str(e).replace("NIR graph <graph>: ", "")
    return "yes (neurokd.exporters.nir.from_nir)"
