"""``neurokd demo``: teacher, students, exports and reports on the embedded digits dataset."""

from __future__ import annotations

import argparse

from neurokd.cli.common import at_least
from neurokd.config import SEED_MAX


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on digits",
                       description="Train a teacher and SNN students on digits and print a results table.")
    p.add_argument("--out", default="runs/demo", help="demo folder (summary.json goes here)")
    p.add_argument("--seed", type=at_least(0, SEED_MAX), default=0, help="random seed (32-bit)")
    p.add_argument("--T", type=at_least(1), default=4, help="SNN time steps")
    p.add_argument("--dvs", action="store_true", help="also run the event-camera (DVS) pipeline")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neurokd.demo import run_demo

    run_demo(args.out, seed=args.seed, T=args.T, progress=not args.no_progress, dvs=args.dvs)
    return 0
