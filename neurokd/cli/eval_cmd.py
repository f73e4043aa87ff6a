"""``neurokd eval RUN...``: test accuracy of trained models on their (or another) dataset split."""

from __future__ import annotations

import argparse
import json

from neurokd.config import DataConfig
from neurokd.configlib import add_config_arguments, overrides_from_args


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate trained models", description="Evaluate run folders or model files.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder, model.safetensors or checkpoint")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to evaluate")
    p.add_argument("--T", type=int, default=None, help="evaluate SNNs with this many time steps")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_arguments(p, DataConfig, prefix="data.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd import load_model
    from neurokd.data import load_dataset, make_loaders
    from neurokd.eval import evaluate
    from neurokd.guard import check_inference
    from neurokd.loading import run_data_config
    from neurokd.tables import markdown_table

    if args.T is not None and args.T < 1:
        from neurokd.errors import UserError

        raise UserError(f"--T must be >= 1, got {args.T}")
    overrides = overrides_from_args(args)
    rows, results = [], []
    for run_path in args.runs:
        model = load_model(run_path)
        if args.T is not None and model.is_snn:
            model.set_T(args.T)
        dcfg = run_data_config(run_path, overrides)
        check_inference(model.spec, model.spec.T, dcfg.batch_size, str(run_path))
        splits = load_dataset(dcfg, T=model.T if model.is_snn else None)
        loaders = dict(zip(["train", "val", "test"], make_loaders(splits, dcfg, 0)))
        loaders["train"].shuffle = False
        loaders["train"].augment = None
        res = evaluate(model, loaders[args.split])
        spec = model.spec
        entry = {"run": run_path, "kind": spec.kind, "arch": spec.arch, "T": spec.T if model.is_snn else None,
                 "dataset": splits.name, "split": args.split, "acc": res["acc"], "loss": res["loss"], "n": res["n"]}
        results.append(entry)
        rows.append([run_path, spec.kind, spec.arch, entry["T"], splits.name, res["acc"], res["loss"]])
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(markdown_table(["run", "kind", "arch", "T", "dataset", f"{args.split}_acc", "loss"], rows))
    return 0
