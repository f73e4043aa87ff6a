"""``neurokd teacher`` (train an ANN) and ``neurokd train`` (train an SNN from scratch with BPTT)."""

from __future__ import annotations

import argparse
import sys

from neurokd.cli.common import add_run_arguments, config_from_args
from neurokd.config import DistillConfig
from neurokd.configlib import leaf_fields

# teacher/train optimise cross-entropy only: distillation keys belong to `neurokd distill`
_DISTILL_KEYS = tuple(name for name, _tp, _f in leaf_fields(DistillConfig, "distill."))


def register(sub) -> None:
    for name, kind, text in [
        ("teacher", "ann", "train an ANN teacher (ReLU twin of the chosen architecture)"),
        ("train", "snn", "train a spiking network from scratch (BPTT, cross-entropy)"),
    ]:
        p = sub.add_parser(name, help=text, description=text)
        add_run_arguments(p, skip=("model.kind", *_DISTILL_KEYS))
        p.add_argument("--resume", action="store_true", help="continue the run folder's newest checkpoint")
        p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
        p.set_defaults(func=run, kind=kind)


def run(args: argparse.Namespace) -> int:
    from neurokd.train import run_training
    from neurokd.train.distributed import is_main_process

    cfg, changes = config_from_args(args, forced={"model.kind": args.kind})
    result = run_training(cfg, resume=args.resume, overwrite=args.overwrite, changes=changes)
    s = result.summary
    if not is_main_process():  # under torchrun every process trains; rank 0 reports
        return 0
    print(f"{s['name']}: {s['kind']} {s['arch']} on {s['dataset']}  test_acc {s['test_acc']:.4f}  "
          f"({s['train_seconds']:.1f}s)  -> {result.run_dir}", file=sys.stdout)
    return 0
