"""``neurokd convert TEACHER``: turn a zoo ANN into a spiking run folder (threshold balancing or QCFS)."""

from __future__ import annotations

import argparse
import sys

from neurokd.cli.common import add_run_arguments
from neurokd.config import DistillConfig, OptimConfig
from neurokd.configlib import leaf_fields

ALIASES = {
    "--method": "convert.method",
    "--percentile": "convert.percentile",
    "--calibration-samples": "convert.calibration_samples",
    "--initial-membrane": "convert.initial_membrane",
}
# keys that mean nothing to a conversion (no training, no KD): not offered as options
_SKIP = ("model.kind", "convert.teacher", *(n for n, _t, _f in leaf_fields(OptimConfig, "optim.")),
         *(n for n, _t, _f in leaf_fields(DistillConfig, "distill.") if n != "distill.teacher_arch"))


def register(sub) -> None:
    text = "convert an ANN teacher into a spiking network (threshold balancing or QCFS), no training"
    p = sub.add_parser(
        "convert", help=text, description=text + ". Writes a run folder like a trained SNN's (eval, export, report "
        "and stream take it). Methods: threshold-balance (each layer's 99.9th percentile activation on training "
        "inputs becomes one spike per step; IF neurons, subtract reset), qcfs (a teacher trained with "
        "--model.activation qcfs: its learned thresholds, IF neurons starting at half the threshold), auto (qcfs "
        "for a QCFS teacher). The dataset is the teacher run folder's unless -c or --dataset says otherwise.",
    )
    p.add_argument("teacher", metavar="TEACHER", help="ANN run folder, model file or zoo state dict (.safetensors, "
                                                      ".pt/.pth; --distill.teacher_arch pins its arch)")
    add_run_arguments(p, skip=_SKIP, aliases=ALIASES)
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd.cli.common import config_from_args
    from neurokd.configlib import overrides_from_args
    from neurokd.convert.run import convert, teacher_data

    given = overrides_from_args(args)
    base = {} if args.config or "data.name" in given else teacher_data(args.teacher)
    forced = {**{k: v for k, v in base.items() if k not in given}, "model.kind": "snn",
              "convert.teacher": args.teacher}
    cfg, _keys = config_from_args(args, forced=forced)
    result = convert(cfg, overwrite=args.overwrite)
    s = result.summary
    print(f"{s['name']}: {s['conversion']} conversion -> snn {s['arch']} T={s['T']} on {s['dataset']}  "
          f"test_acc {s['test_acc']:.4f}  (teacher {s['teacher_test_acc']:.4f}, {s['convert_seconds']:.2f}s)  "
          f"-> {result.run_dir}", file=sys.stdout)
    return 0
