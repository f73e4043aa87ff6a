"""``neurokd report RUN``: SynOps, energy per chip, chip mapping -> report.{md,tex,json,png}."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neurokd.cli.common import add_data_arguments, at_least
from neurokd.configlib import overrides_from_args
from neurokd.hardware.chips import builtin_chips


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="hardware report: SynOps, energy per chip, chip mapping",
        description="Count synaptic operations of a trained SNN on real data, estimate energy per inference on "
                    "cited chip profiles and check whether it fits a chip. Writes report.md, report.tex, "
                    "report.json and report.png.")
    p.add_argument("run", metavar="RUN", help="SNN run folder, model.safetensors, checkpoint or .nir file")
    p.add_argument("--teacher", metavar="RUN", default=None,
                   help="ANN teacher run to count on the same samples (default: the ANN twin's dense MACs)")
    p.add_argument("--chip", action="append", default=[], metavar="CHIP",
                   help=f"chip profile: a built-in name ({', '.join(builtin_chips())}), "
                        "name:variant (cmos-45nm:int8) or a profile YAML file; repeatable (default: all built-in)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test", help="data split to count on")
    p.add_argument("--T", type=at_least(1), default=None, help="run the SNN with this many time steps")
    p.add_argument("--max-samples", type=at_least(1), default=None, help="count at most this many samples")
    p.add_argument("--weight-bits", type=int, default=8, help="weight precision for memory and mapping (bits)")
    p.add_argument("--energy-convention", choices=["full", "plain"], default="full",
                   help="SNN energy: full = every operation the chip profile prices (neuron updates included); "
                        "plain = ACs x E_AC + MACs x E_MAC, the convention of most SNN papers")
    p.add_argument("--latency-ms", type=float, default=None,
                   help="inference latency for profiles with a static power (static energy = power x latency)")
    p.add_argument("--out", default=None, help="output folder (default: RUN/report)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_data_arguments(p)
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from neurokd.errors import UserError

    if not 1 <= args.weight_bits <= 64:
        raise UserError(f"--weight-bits must be between 1 and 64, got {args.weight_bits}")
    if args.latency_ms is not None and not 0 < args.latency_ms < float("inf"):
        raise UserError(f"--latency-ms must be > 0, got {args.latency_ms}")


def run(args: argparse.Namespace) -> int:
    from neurokd.errors import UserError
    from neurokd.hardware.analyse import analyse
    from neurokd.hardware.chips import resolve_chip
    from neurokd.hardware.report import ENERGY_HEADERS, energy_rows, write_report
    from neurokd.runs import Run
    from neurokd.sources import open_model
    from neurokd.tables import markdown_table

    _check_args(args)
    chips = args.chip or list(builtin_chips())
    for spec in chips:  # fail on a bad profile before any counting
        resolve_chip(spec)
    source = open_model(args.run, T=args.T)
    if source.kind == "lava":
        raise UserError(f"{args.run}: `neurokd report` counts a float SNN's activity; give its run folder or its "
                        ".nir export (the fixed-point network's spikes per layer: `neurokd simulate lava --json`)")
    model = source.model
    if not source.is_snn:
        raise UserError(f"{args.run}: is an ANN ({source.arch}); `neurokd report` needs an SNN run "
                        "(pass the ANN with --teacher)")
    teacher = None
    if args.teacher is not None:
        teacher = Run.open(args.teacher).model()
        if teacher.is_snn:
            raise UserError(f"--teacher {args.teacher}: is an SNN; give the ANN teacher's run")
        if list(teacher.spec.input_shape or []) != list(model.spec.input_shape or []):
            raise UserError(f"--teacher {args.teacher}: input shape {teacher.spec.input_shape} differs from the "
                            f"SNN's {model.spec.input_shape}")
    overrides = overrides_from_args(args)
    source.check_fits(source.data_config(overrides).eval_batch_size)
    split = source.split(args.split, overrides)  # events: binned into the model's T frames
    splits, loader = split.data, split.loader
    if splits.time_bins is not None and splits.time_bins != model.T:
        raise UserError(f"dataset '{splits.name}': {splits.time_bins} event frames per sample (data.time_bins) but "
                        f"the SNN runs T={model.T}; pass --T {splits.time_bins} or --data.time_bins {model.T}")
    if len(loader.dataset) == 0:
        raise UserError(f"dataset '{splits.name}': the {args.split} split is empty")
    run_path = Path(args.run)
    out = Path(args.out) if args.out else (run_path if run_path.is_dir() else run_path.parent) / "report"
    meta = {"run": str(args.run), "model": source.description, "dataset": splits.name, "split": args.split,
            "teacher": args.teacher}
    report = analyse(model, loader, chips, teacher=teacher, title=run_path.name if run_path.is_dir() else
                     run_path.stem, meta=meta, weight_bits=args.weight_bits,
                     latency_s=None if args.latency_ms is None else args.latency_ms / 1e3,
                     max_samples=args.max_samples, progress=not args.no_progress,
                     teacher_source=f"teacher {args.teacher}" if args.teacher else "",
                     convention=args.energy_convention)
    paths = write_report(report, out)
    s = report.snn
    print(f"{report.title}: T={s.T}, {s.samples} samples, SynOps {s.synops:.6g}/sample, MACs {s.macs:.6g}/sample "
          f"(non-binary input: {', '.join(s.mac_layers) or 'none'}), firing rate {s.firing_rate or 0:.4f}; "
          f"energy convention: {args.energy_convention}")
    print(markdown_table(ENERGY_HEADERS, energy_rows(report)))
    for mp in report.mappings:
        if mp.supported:
            print(f"{mp.chip}: {'fits' if mp.fits else 'does not fit'} ({mp.reason})")
    print(f"report: {paths['md']} (+ .tex .json .png)", file=sys.stderr)
    return 0
