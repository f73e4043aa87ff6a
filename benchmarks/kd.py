"""Knowledge-distillation benchmark: does a frozen ANN teacher make a better spiking student?

One ANN teacher (the dataset's example recipe, seed 0), then SNN students with the same recipe and the same
epoch budget for every method: no KD (cross-entropy), response KD, feature KD and response+feature KD, at
T = 2 and T = 4, over 3 seeds. Every method at a given seed starts from the same initial weights. Test accuracy
is the final epoch's (no early stopping, no test-set selection; see ``KD_SETTINGS`` for how the KD settings
were chosen). Then the robustness suite runs on every trained model with the same
corrupted test inputs.

Writes ``benchmarks/results/kd_<dataset>.json`` (``{"teacher_acc", "T2": {"none": {"mean", "std", "runs"},
...}, "T4": ...}`` plus the settings), ``kd_<dataset>.md`` (table) and ``robustness_<dataset>.json`` / ``.md`` /
``.png``. Run folders go to ``runs/bench/kd_<dataset>/`` and are reused when their config is unchanged, so an
interrupted benchmark continues where it stopped.

    python benchmarks/kd.py --dataset mnist1d|digits [--seeds 0 1 2] [--T 2 4] [--methods ...] [--epochs N]
                            [--set distill.alpha=0.9 ...] [--tag NAME] [--no-robustness] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
RECIPES = {"mnist1d": ROOT / "examples/configs/mnist1d.yaml", "digits": ROOT / "examples/configs/digits.yaml"}
METHODS = ("none", "response", "feature", "response+feature")
# Response KD: the common a = 0.5, tau = 4, not tuned. Feature KD: last stage, and the adapter chosen on the
# MNIST-1D validation split (seed 0, T = 2, 60 epochs, final-epoch val accuracy): an identity adapter where
# channels match (asking spike rates in [0, 1] to equal ReLU activations) 95.25%, the same with l2 normalisation
# 94.5%, a 1x1 conv + BN regressor 97.25% (no KD: 96.0%). The same settings serve digits.
KD_SETTINGS: dict[str, dict[str, Any]] = {
    "response": {"distill.alpha": 0.5, "distill.tau": 4.0},
    "feature": {"distill.beta": 1.0, "distill.taps": ["last"], "distill.adapter": "always"},
    "response+feature": {"distill.alpha": 0.5, "distill.tau": 4.0, "distill.beta": 1.0, "distill.taps": ["last"],
                         "distill.adapter": "always"},
}


def config_from(files: list[str | Path], name: str, out_dir: Path, overrides: dict[str, Any]):
    """The run config of ``files`` (merged in order) for run ``name`` under ``out_dir``, progress bars off."""
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config

    return build_config(RunConfig, [Path(f) for f in files],
                        {"name": name, "out_dir": str(out_dir), "train.progress": False, **overrides})


def _config(dataset: str, name: str, out_dir: Path, overrides: dict[str, Any]):
    return config_from([RECIPES[dataset]], name, out_dir, overrides)


def _cached_summary(cfg) -> dict[str, Any] | None:
    """The run's summary when its folder finished with exactly this config, else None."""
    folder = cfg.run_dir
    try:
        saved = yaml.safe_load((folder / "config.yaml").read_text())
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError, yaml.YAMLError):
        return None
    try:  # through the config's own parser: keys added since the run was saved take their defaults
        from neurokd.config import RunConfig
        from neurokd.configlib import parse_dataclass

        saved = parse_dataclass(RunConfig, saved).to_dict()
    except Exception:  # noqa: BLE001 (a saved config this version cannot read is simply not a cache hit)
        return None
    want = cfg.to_dict()
    saved.get("model", {}).update({k: want["model"][k] for k in ("num_classes", "input_shape")
                                   if want["model"][k] is None})
    saved.get("train", {})["progress"] = want["train"]["progress"]
    saved["out_dir"] = want["out_dir"]  # a moved folder trained the same model
    if want["distill"]["method"] == "none":  # an inert section: its defaults do not change training
        saved["distill"] = want["distill"]
    if want["distill"].get("init") == "converted":  # the conversion writes these: outputs of the run, not inputs
        for key in ("thresholds", "initial_membrane"):
            saved["model"]["neuron"][key] = want["model"]["neuron"][key]
        if want["convert"]["method"] == "auto":  # ... and so is the method auto chose
            saved["convert"]["method"] = "auto"
    return summary if saved == want else None


def train_one(cfg, splits, log: str) -> dict[str, Any]:
    from neurokd.distill import distill
    from neurokd.train import run_training

    cached = _cached_summary(cfg)
    if cached is not None:
        print(f"  {log}: cached test_acc {cached['test_acc']:.4f}", file=sys.stderr)
        return cached
    t0 = time.perf_counter()
    if cfg.distill.method == "none":
        summary = run_training(cfg, splits=splits, overwrite=True).summary
    else:
        summary = distill(cfg, splits=splits, overwrite=True).summary
    print(f"  {log}: test_acc {summary['test_acc']:.4f} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return summary


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def markdown_report(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    Ts = [k for k in report if k.startswith("T") and k[1:].isdigit()]
    methods = list(report[Ts[0]]) if Ts else []
    rows = []
    for m in methods:
        row: list[Any] = [m]
        for T in Ts:
            s = report[T][m]
            row.append(f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}")
        for T in Ts:
            base = report[T].get("none")
            row.append("-" if base is None or m == "none" else f"{100 * (report[T][m]['mean'] - base['mean']):+.2f}")
        rows.append(row)
    head = ["method", *[f"{T} acc % (mean ± std)" for T in Ts], *[f"{T} vs none" for T in Ts]]
    lines = [
        f"# KD benchmark: {report['dataset']}",
        "",
        f"Teacher ({report['teacher_arch']} ANN) test accuracy: {100 * report['teacher_acc']:.2f}%. Students: "
        f"{report['student_arch']} SNN, {report['epochs']} epochs each (teacher {report['teacher_epochs']}), seeds {report['seeds']}; final-epoch test "
        f"accuracy over {report['test_samples']} test samples.",
        "",
        markdown_table(head, rows),
        "",
        "KD settings: " + json.dumps(report["kd_settings"]),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(RECIPES), default="mnist1d")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--T", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--epochs", type=int, default=None, help="student epochs (default: the recipe's, like the teacher)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="extra config overrides for the KD runs (e.g. distill.alpha=0.9)")
    ap.add_argument("--tag", default="", help="suffix for the run folder and result names (exploration)")
    ap.add_argument("--teacher", default=None, help="reuse this teacher run folder instead of training one")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-robustness", action="store_true")
    args = ap.parse_args()

    import torch

    from neurokd.data import load_dataset

    torch.set_num_threads(args.threads)
    tag = f"_{args.tag}" if args.tag else ""
    work = ROOT / "runs" / "bench" / f"kd_{args.dataset}{tag}"
    common: dict[str, Any] = {"train.threads": args.threads}
    student_epochs = {"optim.epochs": args.epochs} if args.epochs else {}
    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}

    t_start = time.perf_counter()
    teacher_cfg = _config(args.dataset, "teacher", work, {**common, "model.kind": "ann", "seed": 0})
    splits = load_dataset(teacher_cfg.data, 0)
    print(f"kd benchmark on {args.dataset}: teacher", file=sys.stderr)
    if args.teacher:
        teacher_dir = args.teacher
        teacher = json.loads((Path(teacher_dir) / "summary.json").read_text())
    else:
        teacher = train_one(teacher_cfg, splits, "teacher")
        teacher_dir = str(teacher_cfg.run_dir)

    report: dict[str, Any] = {"teacher_acc": teacher["test_acc"]}
    runs: dict[str, dict[str, list[str]]] = {}
    for T in args.T:
        report[f"T{T}"] = {}
        runs[f"T{T}"] = {}
        for method in args.methods:
            accs, secs, folders = [], [], []
            for seed in args.seeds:
                over = {**common, **student_epochs, "model.kind": "snn", "model.T": T, "seed": seed}
                if method != "none":
                    over.update({"distill.method": method, "distill.teacher": teacher_dir,
                                 **KD_SETTINGS[method], **extra})
                cfg = _config(args.dataset, f"T{T}_{method}_s{seed}", work, over)
                s = train_one(cfg, splits, f"T={T} {method} seed {seed}")
                accs.append(s["test_acc"])
                secs.append(s["train_seconds"])
                folders.append(str(cfg.run_dir))
            report[f"T{T}"][method] = {**_stats(accs), "train_seconds_mean": statistics.fmean(secs)}
            runs[f"T{T}"][method] = folders
            print(f"T={T} {method}: {100 * report[f'T{T}'][method]['mean']:.2f} ± "
                  f"{100 * report[f'T{T}'][method]['std']:.2f}", file=sys.stderr)

    report.update({
        "dataset": args.dataset,
        "teacher_arch": teacher["arch"],
        "student_arch": teacher["arch"],
        "epochs": args.epochs or teacher_cfg.optim.epochs,
        "teacher_epochs": teacher_cfg.optim.epochs,
        "seeds": args.seeds,
        "test_samples": len(splits.test),
        "kd_settings": {m: {**KD_SETTINGS[m], **extra} for m in args.methods if m != "none"},
        "recipe": str(RECIPES[args.dataset].relative_to(ROOT)),
        "threads": args.threads,
        "train_seconds_note": "per run, measured on a shared 2-core CPU (under contention)",
        "benchmark_seconds": round(time.perf_counter() - t_start, 1),
    })
    from neurokd.io import write_json, write_text

    write_json(RESULTS / f"kd_{args.dataset}{tag}.json", report)
    write_text(RESULTS / f"kd_{args.dataset}{tag}.md", markdown_report(report))
    print(markdown_report(report))
    if not args.no_robustness:
        robustness(args.dataset, tag, teacher_dir, runs, splits, args.seeds)


def robustness(dataset: str, tag: str, teacher_dir: str, runs: dict[str, dict[str, list[str]]], splits,
               seeds: list[int]) -> None:
    """Every trained model on the same corrupted test inputs; mean over seeds per (T, method)."""
    from neurokd import load_model
    from neurokd.eval.robustness import (
        aggregate_seeds,
        default_corruptions,
        evaluate_robustness,
        robustness_markdown,
        save_robustness_plot,
    )
    from neurokd.io import write_json, write_text

    models = {"teacher": load_model(teacher_dir)}
    groups: dict[str, list[str]] = {"teacher": ["teacher"]}
    for T, by_method in runs.items():
        for method, folders in by_method.items():
            group = f"{T} {method}"
            groups[group] = []
            for seed, folder in zip(seeds, folders):
                key = f"{group} s{seed}"
                models[key] = load_model(folder)
                groups[group].append(key)
    test = splits.test
    t0 = time.perf_counter()
    result = evaluate_robustness(models, test, default_corruptions(splits.input_shape), seed=0, progress=True)
    summary = aggregate_seeds(result, groups)
    summary["dataset"] = dataset
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["delta_vs_none"] = deltas_vs_none(summary)
    summary["per_model"] = result
    write_json(RESULTS / f"robustness_{dataset}{tag}.json", summary)
    write_text(RESULTS / f"robustness_{dataset}{tag}.md",
               f"# Robustness: {dataset} (mean over seeds {seeds})\n\n" + robustness_markdown(summary)
               + "\n\n## KD minus no-KD, accuracy points averaged over each corruption's severities\n\n"
               + deltas_markdown(summary["delta_vs_none"]) + "\n")
    save_robustness_plot(summary, RESULTS / f"robustness_{dataset}{tag}.png",
                         title=f"{dataset}: accuracy vs corruption severity (mean over {len(seeds)} seeds)")
    print(robustness_markdown(summary))


def deltas_vs_none(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per KD group ``"T<n> <method>"``: mean over severities of (its accuracy − the same T's no-KD accuracy),
    per corruption, plus ``clean``; in accuracy points."""
    out: dict[str, dict[str, float]] = {}
    for group in summary["clean"]:
        T, _, method = group.partition(" ")
        base = f"{T} none"
        if not method or method == "none" or base not in summary["clean"]:
            continue
        row = {"clean": 100 * (summary["clean"][group] - summary["clean"][base])}
        for c, per_group in summary["acc"].items():
            diffs = [a - b for a, b in zip(per_group[group], per_group[base])]
            row[c] = 100 * statistics.fmean(diffs)
        out[group] = row
    return out


def deltas_markdown(deltas: dict[str, dict[str, float]]) -> str:
    from neurokd.tables import markdown_table

    if not deltas:
        return "(no KD groups)"
    cols = list(next(iter(deltas.values())))
    return markdown_table(["model", *cols], [[g, *[f"{v[c]:+.2f}" for c in cols]] for g, v in deltas.items()])


if __name__ == "__main__":
    main()
