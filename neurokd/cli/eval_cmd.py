"""``neurokd eval RUN...``: test accuracy of trained models on their (or another) dataset split."""

from __future__ import annotations

import argparse

from neurokd.cli.common import add_data_arguments, add_json_argument, at_least, emit_json
from neurokd.configlib import overrides_from_args


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate trained models",
                       description="Evaluate run folders, model files, NIR graphs (.nir, through neurokd's importer) "
                                   "or Loihi 2 networks (.net, the bit-accurate fixed-point model) on a split of "
                                   "their dataset.")
    p.add_argument("runs", nargs="+", metavar="MODEL",
                   help="run folder, model.safetensors, checkpoint, .nir or .net file")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="split to evaluate")
    p.add_argument("--T", type=at_least(1), default=None, help="evaluate SNNs with this many time steps")
    add_json_argument(p, "the results")
    add_data_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd.sources import open_model
    from neurokd.tables import markdown_table

    overrides = overrides_from_args(args)
    rows, results = [], []
    for path in args.runs:
        source = open_model(path, T=args.T)
        source.check_fits(source.data_config(overrides).eval_batch_size)
        split = source.split(args.split, overrides)
        res = source.evaluate(split)
        entry = {"run": path, "kind": "snn" if source.is_snn else "ann", "arch": source.arch,
                 "T": source.T if source.is_snn else None, "dataset": split.data.name, "split": args.split,
                 "acc": res["acc"], "loss": res["loss"], "n": res["n"]}
        results.append(entry)
        rows.append([path, entry["kind"], entry["arch"], entry["T"], split.data.name, res["acc"],
                     "-" if res["loss"] is None else res["loss"]])
    if not emit_json(args.json, results):
        print(markdown_table(["run", "kind", "arch", "T", "dataset", f"{args.split}_acc", "loss"], rows))
    return 0
