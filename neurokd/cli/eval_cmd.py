"""``neurokd eval RUN...``: test accuracy of trained models on their (or another) dataset split."""

from __future__ import annotations

import argparse
import json

from neurokd.cli.common import at_least
from neurokd.config import DataConfig
from neurokd.configlib import add_config_arguments, overrides_from_args


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate trained models", description="Evaluate run folders or model files.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder, model.safetensors or checkpoint")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to evaluate")
    p.add_argument("--T", type=at_least(1), default=None, help="evaluate SNNs with this many time steps")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_arguments(p, DataConfig, prefix="data.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd.eval import evaluate
    from neurokd.guard import check_inference
    from neurokd.runs import Run
    from neurokd.tables import markdown_table

    overrides = overrides_from_args(args)
    rows, results = [], []
    for run_path in args.runs:
        run = Run.open(run_path)
        model = run.model(T=args.T)
        check_inference(model.spec, model.spec.T, run.data_config(overrides).eval_batch_size, str(run_path))
        split = run.split(args.split, T=model.T if model.is_snn else None, overrides=overrides)
        res = evaluate(model, split.loader)
        spec = model.spec
        entry = {"run": run_path, "kind": spec.kind, "arch": spec.arch, "T": spec.T if model.is_snn else None,
                 "dataset": split.data.name, "split": args.split, "acc": res["acc"], "loss": res["loss"],
                 "n": res["n"]}
        results.append(entry)
        rows.append([run_path, spec.kind, spec.arch, entry["T"], split.data.name, res["acc"], res["loss"]])
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(markdown_table(["run", "kind", "arch", "T", "dataset", f"{args.split}_acc", "loss"], rows))
    return 0
