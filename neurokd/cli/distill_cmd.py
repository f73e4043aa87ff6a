"""``neurokd distill``: train an SNN student from a frozen teacher (response / per-step / feature KD, block-wise
hybrid replacement)."""

from __future__ import annotations

import argparse
import sys

from neurokd.cli.common import add_run_arguments, config_from_args

ALIASES = {
    "--teacher": "distill.teacher",
    "--method": "distill.method",
    "--alpha": "distill.alpha",
    "--tau": "distill.tau",
    "--beta": "distill.beta",
    "--taps": "distill.taps",
}


def register(sub) -> None:
    text = "distill a frozen teacher (run folder, state dict, ONNX) into a spiking student"
    p = sub.add_parser(
        "distill", help=text, description=text + ". Methods: response (KDSNN response KD on time-mean logits), "
        "feature (L2 on adapted stage features), response+feature, blockwise (hybrid block-wise replacement: SNN "
        "stage rates through aligners into the frozen teacher's remaining stages, CE+KD on the SNN and every "
        "hybrid; --distill.branches/branch_weights/aligner/branch_loss/progressive_epochs); --per-step applies "
        "response KD to every time step's logits; --train.backprop rate trains with rate-based backprop.",
    )
    p.add_argument("--per-step", dest="cfg:distill.per_step", action="store_const", const="true",
                   default=argparse.SUPPRESS, help="= --distill.per_step true")
    add_run_arguments(p, aliases=ALIASES)
    p.add_argument("--resume", action="store_true", help="continue the run folder's newest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd.distill import distill
    from neurokd.train.distributed import is_main_process

    cfg, changes = config_from_args(args)
    if not args.resume and cfg.distill.method == "none":
        cfg.distill.method = "response"  # the command's default method
    result = distill(cfg, resume=args.resume, overwrite=args.overwrite, changes=changes)
    s = result.summary
    if not is_main_process():  # under torchrun every process trains; rank 0 reports
        return 0
    print(f"{s['name']}: {s['kind']} {s['arch']} T={s['T']} on {s['dataset']} by {s['method']} KD  "
          f"test_acc {s['test_acc']:.4f}  (teacher {s['teacher_test_acc']:.4f}, {s['train_seconds']:.1f}s)  "
          f"-> {result.run_dir}", file=sys.stdout)
    return 0
