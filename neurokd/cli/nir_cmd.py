"""CLI for NIR: ``neurokd export nir RUN -o model.nir`` and ``neurokd inspect model.nir``.

Plugged into ``neurokd/cli/export_cmd.py`` (``TARGETS`` / ``INSPECTORS``). Heavy imports stay inside the run
functions so building the ``neurokd`` parser stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from neurokd.exporters.nir.convention import DEFAULT_DT


def register_export(targets) -> None:
    p = targets.add_parser(
        "nir", help="NIR graph (.nir, HDF5) for any NIR backend",
        description="Export an SNN run to a NIR graph (BatchNorm folded, Euler LIF/IF, dt and reset in the "
                    "metadata), re-import it and check it spike for spike on the run's test data.")
    p.add_argument("run", metavar="RUN", help="SNN run folder, model.safetensors or checkpoint")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="output .nir file (default: model.nir in the run folder)")
    p.add_argument("--dt", type=float, default=DEFAULT_DT, help="time step in seconds for the Euler mapping")
    p.add_argument("--T", type=int, default=None, help="time steps to record in the graph (default: the model's)")
    p.add_argument("--verify", type=int, default=64, metavar="N",
                   help="re-import and compare spike trains on N test samples (0: skip)")
    p.add_argument("--compress", action="store_true",
                   help="gzip the arrays (about 40%% smaller for large networks, about 5x slower)")
    p.add_argument("--nir-version", choices=["1.0.8", "1.0.4"], default="1.0.8",
                   help="NIR file version: 1.0.4 for readers that pin it (Sinabs 3.1, Rockpool 3.1; "
                        "docs/nir.md); the fields it lacks are described in the node metadata")
    p.set_defaults(func=run_export)


def _default_output(run: str) -> Path:
    path = Path(run)
    return (path if path.is_dir() else path.parent) / "model.nir"


def run_export(args: argparse.Namespace) -> int:
    from neurokd import load_model
    from neurokd.errors import UserError
    from neurokd.exporters.nir.export import to_nir
    from neurokd.exporters.nir.files import save
    from neurokd.exporters.nir.summary import graph_info

    if args.verify < 0:
        raise UserError(f"--verify must be >= 0 (0: no check), got {args.verify}")
    model = load_model(args.run)
    if not model.is_snn:
        raise UserError(f"{args.run}: a {model.spec.arch} ANN; NIR export needs an SNN run (model.kind snn)")
    if args.T is not None:
        if args.T < 1:
            raise UserError(f"--T must be >= 1, got {args.T}")
        model.set_T(args.T)
    graph = to_nir(model, dt=args.dt)
    with warnings.catch_warnings(record=True) as caught:  # a legacy version's notice, printed as one line
        warnings.simplefilter("always", UserWarning)
        out = save(graph, args.output or _default_output(args.run), compression="gzip" if args.compress else None,
                   nir_version=args.nir_version)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    info = graph_info(graph)
    print(f"wrote {out} (NIR {args.nir_version}): {info['nodes']} nodes, {info['edges']} edges, "
          f"{info['params']:,} parameters, {info['neurons']:,} neurons, dt={args.dt:g} s, T={model.T}, "
          f"reset={info['metadata']['reset']}")
    if args.verify > 0:
        report, where = _verify(args.run, model, out, args.verify)
        status = "identical" if report["spike_equal"] and report["output_equal"] else "DIFFERENT"
        print(f"re-import check on {where}: spike trains {status} ({report['layers']} neuron layers, "
              f"{report['spikes']:,} spikes, {report['mismatches']} mismatches, outputs "
              f"{'equal' if report['output_equal'] else 'differ'})")
        if status != "identical":
            return 1
    return 0


def _verify(run: str, model, out: Path, n: int):
    """Compare the BN-folded model with the re-imported file on ``n`` test samples (random if no dataset)."""
    import torch

    from neurokd.exporters.nir.importer import from_nir
    from neurokd.exporters.nir.verify import compare_spikes
    from neurokd.models.fold import fold_batchnorm

    x, where = _test_inputs(run, n)
    if x is None:
        x = torch.rand(n, *model.spec.input_shape, generator=torch.Generator().manual_seed(0))
    return compare_spikes(fold_batchnorm(model), from_nir(out), x), where


def _test_inputs(run: str, n: int):
    """First ``n`` test samples of the run's dataset, or ``(None, reason)`` where there is no run config."""
    import torch

    from neurokd.data import load_dataset, make_loaders
    from neurokd.errors import UserError
    from neurokd.train.loop import load_saved_config

    folder = Path(run)
    if not (folder.is_dir() and (folder / "config.yaml").is_file()):
        return None, f"{n} random inputs in [0, 1) (no run folder config to load test data from)"
    try:
        cfg = load_saved_config(folder)
        splits = load_dataset(cfg.data, cfg.seed, T=cfg.model.T)
    except UserError as e:
        print(f"note: test data unavailable ({e}); checking on random inputs", file=sys.stderr)
        return None, f"{n} random inputs in [0, 1)"
    xs, have = [], 0
    for x, _y in make_loaders(splits, cfg.data, cfg.seed)[2]:
        xs.append(x)
        have += len(x)
        if have >= n:
            break
    x = torch.cat(xs)[:n]
    return x, f"{len(x)} {splits.name} test samples"


def inspect_file(path: Path, as_json: bool = False) -> int:
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
    if as_json:
        print(json.dumps({"file": str(path), **info, "runs_in_neurokd": runnable,
                          "node_table": [dict(zip(NODE_HEADERS, r)) for r in rows]}, indent=2, default=str))
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
