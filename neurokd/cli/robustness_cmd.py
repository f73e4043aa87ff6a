"""``neurokd robustness RUN...``: accuracy of several models under the same corrupted inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from neurokd.cli.common import add_data_arguments, at_least
from neurokd.config import SEED_MAX
from neurokd.configlib import overrides_from_args


def register(sub) -> None:
    text = "evaluate models under input corruptions (noise, salt-and-pepper, rotation/shift, clutter, occlusion, contrast)"
    p = sub.add_parser("robustness", help=text, description=text + "; every model sees the same corrupted inputs.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folder, model.safetensors or checkpoint")
    p.add_argument("--names", default=None, help="comma-separated labels for the models (default: folder names)")
    p.add_argument("--out", default="runs/robustness", help="folder for robustness.{json,md,png}")
    p.add_argument("--seed", type=at_least(0, SEED_MAX), default=0, help="seed of the corruptions (32-bit)")
    p.add_argument("--corruptions", default=None, help="comma-separated subset of the suite (default: all)")
    p.add_argument("--split", choices=["val", "test"], default="test", help="split to corrupt")
    p.add_argument("--T", type=at_least(1), default=None, help="evaluate SNNs with this many time steps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_data_arguments(p)
    p.set_defaults(func=run)


def _labels(runs: list[str], names: str | None) -> list[str]:
    from neurokd.errors import UserError

    if names is not None:
        labels = [n.strip() for n in names.split(",")]
        if len(labels) != len(runs) or len(set(labels)) != len(labels):
            raise UserError(f"--names: give {len(runs)} distinct labels, one per RUN, got {names!r}")
        return labels
    labels, seen = [], {}
    for r in runs:
        p = Path(r)
        base = p.name if p.is_dir() else (p.parent.name if p.name == "model.safetensors" else p.stem)
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return labels


def run(args: argparse.Namespace) -> int:
    from neurokd.data import load_dataset
    from neurokd.errors import UserError
    from neurokd.eval.robustness import (
        ROBUSTNESS_BATCH,
        default_corruptions,
        evaluate_robustness,
        robustness_figure,
        robustness_markdown,
    )
    from neurokd.guard import check_inference
    from neurokd.io import json_text, write_files
    from neurokd.plotting import png_bytes
    from neurokd.runs import Run

    labels = _labels(args.runs, args.names)
    runs = [Run.open(path) for path in args.runs]
    models = {label: run.model(T=args.T) for label, run in zip(labels, runs)}
    for label, model in models.items():
        check_inference(model.spec, model.spec.T, ROBUSTNESS_BATCH, label)
    splits = load_dataset(runs[0].data_config(overrides_from_args(args)), runs[0].seed,
                          T=next((m.T for m in models.values() if m.is_snn), None))
    for label, model in models.items():
        if list(model.spec.input_shape or []) != list(splits.input_shape):
            raise UserError(
                f"{label}: model input {model.spec.input_shape} does not match dataset '{splits.name}' "
                f"{splits.input_shape}; evaluate models of one dataset together"
            )
    suite = default_corruptions(splits.input_shape)
    if args.corruptions:
        wanted = [c.strip() for c in args.corruptions.split(",") if c.strip()]
        known = {c.name: c for c in suite}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise UserError(f"--corruptions: unknown {', '.join(unknown)}; choose from {', '.join(known)}")
        suite = [known[w] for w in wanted]
    dataset = splits.test if args.split == "test" else splits.val
    result = evaluate_robustness(models, dataset, suite, seed=args.seed, batch_size=ROBUSTNESS_BATCH,
                                 progress=not args.no_progress)
    result.update({"dataset": splits.name, "split": args.split, "runs": dict(zip(labels, args.runs))})
    out = Path(args.out)
    table = robustness_markdown(result)
    figure = robustness_figure(result, title=f"{splits.name}: accuracy vs corruption severity")
    write_files({out / "robustness.json": json_text(result),
                 out / "robustness.md": f"# Robustness on {splits.name} ({args.split}, seed {args.seed})\n\n{table}\n",
                 out / "robustness.png": png_bytes(figure, dpi=110)})
    print(table)
    print(f"\n-> {out / 'robustness.json'}, robustness.md, robustness.png", flush=True)
    return 0
