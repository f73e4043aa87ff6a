"""Method benchmark: no KD vs response / response+feature KD vs block-wise replacement (rate-BP and BPTT), with
the controls that attribute block-wise's effect, paired over seeds.

One ANN teacher (seed 0), then SNN students with the same recipe and epoch budget for every method, at T = 2 and
T = 4, over ``--seeds`` (default 5); every method at a given seed starts from the same initial weights, so methods
are compared *paired*, seed by seed. Methods (the JSON's row keys):

- ``none``: cross-entropy, BPTT;  ``none_rate``: cross-entropy, rate-BP (rate-BP's own effect, no teacher);
- ``response``: response KD (a 0.5, tau from the recipe: 4, or 3 under ``--recipe paper``), BPTT; block-wise is
  response KD on the SNN *plus* the hybrids, so this is its control;
- ``response+feature``: the best seed-001 variant of ``benchmarks/kd.py`` (last stage, 1x1 conv + BN adapter), BPTT;
- ``blockwise_rate`` / ``blockwise_bptt``: ``distill.method: blockwise`` with its defaults (branches after every
  stage but the last, w_i = 2^-(n-i), 1x1 conv + BN aligners, CE + KD on the SNN and every hybrid), trained with
  ``train.backprop: rate`` / ``bptt``.

Per row: final-epoch test accuracy (``mean``/``std``/``runs``) and the test accuracy at the best-validation epoch
(``best_val``: the epoch is chosen on the validation split only, see ``neurokd.train.loop``), and the paired
difference ``blockwise_rate - method`` per seed (``vs_blockwise_rate``: mean, std, the per-seed values, and on how
many seeds blockwise_rate is ahead / level), for both accuracies.

``--ablations`` adds blockwise (rate-BP) variants at ``--ablation-T`` over ``--ablation-seeds``: branches inside
stages (after the first block of stage 1..n-1 instead of the stage outputs), equal branch weights (1 each, as the
lab's self-distillation code sums its outputs), aligner BN initialised to the teacher feature's channel statistics,
a ReLU after the aligner, and the older no-aligner / CE-only-hybrid / progressive variants.

``--recipe paper`` trains the students under ``examples/configs/paper_recipe.yaml`` (SGD 0.1, cosine, soft detached
reset, sigmoid surrogate alpha 4, KD tau 3) on top of the arch's config; the teacher stays the AdamW one (same run
folder), so only the students' recipe changes.

Every training runs in a fresh Python process (``--jobs`` at a time); ``train_s`` is the run's training seconds
and ``peak_mb`` its summary's ``peak_mem_mb`` (peak bytes allocated during the training epochs above those at
their start, MiB), both means over seeds. Writes ``benchmarks/results/methods_<dataset>[_<arch>][_paper].json``::

    {"teacher_acc": ..., "T2": {"<method>": {"mean", "std", "runs", "best_val": {...}, "best_val_epochs",
     "vs_blockwise_rate": {"final": {...}, "best_val": {...}}, "train_s", "peak_mb"}, ...}, "T4": {...},
     "ablations": {"T4": {...}}, settings...}

and ``.md``, rewritten after every finished run, so an interrupted benchmark leaves valid partial results. Run
folders go to ``runs/bench/methods_<dataset>[_<arch>][_n<samples>]/`` and are reused when their config is
unchanged (a second invocation, e.g. ``--ablations-only`` or ``--recipe paper``, finds the teacher there).

    python benchmarks/methods.py [--dataset mnist1d|digits] [--arch resnet1d|cnn1d|cnn] [--recipe adamw|paper]
                                 [--num-samples N] [--seeds 0 1 2 3 4] [--T 2 4] [--epochs N] [--jobs 2]
                                 [--methods ...] [--ablations | --ablations-only] [--teacher DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kd import KD_SETTINGS, ROOT, _cached_summary, config_from, train_one  # noqa: E402 (benchmarks is not a package)

RESULTS = Path(__file__).parent / "results"
CONFIGS = ROOT / "examples" / "configs"
PAPER_RECIPE = CONFIGS / "paper_recipe.yaml"
# (dataset, arch) -> its config (today's AdamW recipe), default sample count and student epochs
SETUPS: dict[tuple[str, str], dict[str, Any]] = {
    # 10000 signals, 12 epochs: the 36 main-table trainings (3 seeds) fit ~1 h with --jobs 2 on 2 shared cores
    # (one epoch of 7200 training signals: ~8 s at T = 2, ~16 s at T = 4 per run, two runs at a time)
    ("mnist1d", "resnet1d"): {"config": CONFIGS / "mnist1d_resnet1d.yaml", "num_samples": 10000, "epochs": 12},
    ("mnist1d", "cnn1d"): {"config": CONFIGS / "mnist1d.yaml", "num_samples": None, "epochs": 20},
    ("digits", "cnn"): {"config": CONFIGS / "digits.yaml", "num_samples": None, "epochs": 20},
}
DEFAULT_ARCH = {"mnist1d": "resnet1d", "digits": "cnn"}
# alpha and tau come from the recipe (DistillConfig's a 0.5, tau 4; the paper recipe's tau 3)
_NO_ALPHA_TAU = {k: v for k, v in KD_SETTINGS["response+feature"].items() if k not in ("distill.alpha", "distill.tau")}
METHODS: dict[str, dict[str, Any]] = {
    "none": {},
    "none_rate": {"train.backprop": "rate"},
    "response": {"distill.method": "response"},
    "response+feature": {"distill.method": "response+feature", **_NO_ALPHA_TAU},
    "blockwise_rate": {"distill.method": "blockwise", "train.backprop": "rate"},
    "blockwise_bptt": {"distill.method": "blockwise", "train.backprop": "bptt"},
}
REFERENCE = "blockwise_rate"  # paired differences are taken against it


def ablations(epochs: int, stage_names: list[str], branch_points: list[str]) -> dict[str, dict[str, Any]]:
    """The blockwise (rate-BP) variants for a student with these stages and branch points."""
    rate = METHODS[REFERENCE]
    outputs = stage_names[:-1]  # the default branches
    # inside stages: the deepest point inside each default branch's stage (the first block of a 2-block stage)
    inside = [max((p for p in branch_points if p.startswith(f"{s}.")), key=branch_points.index, default=None)
              for s in outputs]
    variants = {
        "blockwise_rate/inside_stages": {**rate, "distill.branches": inside} if None not in inside else None,
        "blockwise_rate/equal_weights": {**rate, "distill.branch_weights": [1.0] * len(outputs)},
        "blockwise_rate/aligner_teacher_stats": {**rate, "distill.aligner_init": "teacher_stats"},
        "blockwise_rate/aligner_relu": {**rate, "distill.aligner": "conv_bn_relu"},
        "blockwise_rate/no_aligner": {**rate, "distill.aligner": "none"},
        "blockwise_rate/ce_branches": {**rate, "distill.branch_loss": "ce"},
        "blockwise_rate/progressive": {**rate, "distill.progressive_epochs": max(1, epochs // 2)},
    }
    return {k: v for k, v in variants.items() if v is not None}


ABLATION_NAMES = ["blockwise_rate/inside_stages", "blockwise_rate/equal_weights",
                  "blockwise_rate/aligner_teacher_stats", "blockwise_rate/aligner_relu", "blockwise_rate/no_aligner",
                  "blockwise_rate/ce_branches", "blockwise_rate/progressive"]


@dataclass
class Recipe:
    """One (dataset, arch) setup: its config files, run folder, the overrides every run shares, student epochs."""

    dataset: str
    arch: str
    num_samples: int | None
    epochs: int
    base_files: list[str]
    work: Path
    common: dict[str, Any]

    @property
    def name_arch(self) -> str:
        return _name_arch(self.dataset, self.arch)

    def teacher_overrides(self) -> dict[str, Any]:
        """The ANN teacher: seed 0, the setup's config (its own epochs)."""
        return {**self.common, "model.kind": "ann", "seed": 0}

    def student_overrides(self, T: int, seed: int, over: dict[str, Any], teacher_dir: str,
                          epochs: int | None = None) -> dict[str, Any]:
        """An SNN student at ``T`` and ``seed`` with a method's overrides ``over`` (its teacher when it distills)."""
        out = {**self.common, "optim.epochs": epochs or self.epochs, "model.kind": "snn", "model.T": T, "seed": seed,
               **over}
        if "distill.method" in over:
            out["distill.teacher"] = teacher_dir
        return out


def _name_arch(dataset: str, arch: str) -> str:
    """The arch's part of run folder and result names: empty for the dataset's default arch."""
    return "" if arch == DEFAULT_ARCH[dataset] else f"_{arch}"


def recipe(dataset: str, arch: str | None = None, num_samples: int | None = None, epochs: int | None = None,
           threads: int = 1, tag: str = "") -> Recipe:
    """The setup of ``dataset`` and ``arch`` (default: the dataset's); ValueError for a pair without one."""
    arch = arch or DEFAULT_ARCH[dataset]
    if (dataset, arch) not in SETUPS:
        raise ValueError(f"--arch {arch} has no setup for {dataset}; choose one of "
                         f"{', '.join(a for d, a in SETUPS if d == dataset)}")
    setup = SETUPS[(dataset, arch)]
    num_samples = num_samples if num_samples is not None else setup["num_samples"]
    if num_samples is not None and dataset != "mnist1d":
        raise ValueError("--num-samples applies to mnist1d only")
    work = (ROOT / "runs" / "bench" / f"methods_{dataset}{_name_arch(dataset, arch)}"
            f"{'' if num_samples is None else f'_n{num_samples}'}{f'_{tag}' if tag else ''}")
    common: dict[str, Any] = {"train.threads": threads, "model.arch": arch, "data.num_samples": num_samples}
    return Recipe(dataset, arch, num_samples, epochs or setup["epochs"], [str(setup["config"])], work, common)


def worker(files: str, name: str, work: str, overrides: str) -> None:
    """One training in this process (``--worker``): the run folder gets config, checkpoints and summary."""
    from neurokd.data import load_dataset

    cfg = config_from(json.loads(files), name, Path(work), json.loads(overrides))
    train_one(cfg, load_dataset(cfg.data, 0), name)


def run_in_process(files: list[str], name: str, work: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from(files, name, work, overrides)
    cached = _cached_summary(cfg)
    if cached is not None:
        print(f"  {name}: cached test_acc {cached['test_acc']:.4f}", file=sys.stderr)
        return cached
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--worker", json.dumps(files), name, str(work),
                        json.dumps(overrides)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{r.stderr[-3000:]}")
    summary = json.loads((cfg.run_dir / "summary.json").read_text())
    print(f"  {name}: test_acc {summary['test_acc']:.4f} (best-val epoch {summary['best_val_epoch']}: "
          f"{summary['best_val_test_acc']:.4f})  peak {summary['peak_mem_mb']} MiB  ({time.perf_counter() - t0:.0f}s)",
          file=sys.stderr)
    return summary


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def paired(ref: dict[int, float], other: dict[int, float]) -> dict[str, Any] | None:
    """``ref - other`` over the seeds both have: mean, std, the differences, and on how many seeds ``ref`` is
    ahead (``wins``), level (``ties``) or behind; None without a common seed."""
    seeds = sorted(set(ref) & set(other))
    if not seeds:
        return None
    diffs = [ref[s] - other[s] for s in seeds]
    return {**_stats(diffs), "seeds": seeds, "wins": sum(d > 0 for d in diffs), "ties": sum(d == 0 for d in diffs),
            "n": len(diffs)}


def row(by_seed: dict[int, dict[str, Any]], ref: dict[int, dict[str, Any]] | None) -> dict[str, Any]:
    """One method's row from its summaries per seed; ``ref``: the reference method's summaries at the same T."""
    seeds = sorted(by_seed)
    final = {s: by_seed[s]["test_acc"] for s in seeds}
    best = {s: by_seed[s]["best_val_test_acc"] for s in seeds}
    out = {**_stats([final[s] for s in seeds]), "seeds": seeds, "best_val": _stats([best[s] for s in seeds]),
           "best_val_epochs": [by_seed[s]["best_val_epoch"] for s in seeds],
           "train_s": round(statistics.fmean(by_seed[s]["train_seconds"] for s in seeds), 1),
           "peak_mb": round(statistics.fmean(by_seed[s]["peak_mem_mb"] for s in seeds), 1)}
    if ref is not None and ref is not by_seed:
        out["vs_" + REFERENCE] = {
            "final": paired({s: r["test_acc"] for s, r in ref.items()}, final),
            "best_val": paired({s: r["best_val_test_acc"] for s, r in ref.items()}, best),
        }
    return out


def _pm(s: dict[str, Any] | None, scale: float = 100.0, signed: bool = False) -> str:
    if s is None:
        return "-"
    return f"{scale * s['mean']:{'+' if signed else ''}.2f} ± {scale * s['std']:.2f}"


def markdown_report(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    vs = "vs_" + REFERENCE

    def table(section: dict[str, Any]) -> str:
        rows = []
        for T, by_method in section.items():
            for m, s in by_method.items():
                d = s.get(vs, {})
                wins = "-" if not d.get("final") else f"{d['final']['wins']}/{d['final']['n']}"
                rows.append([T, m, _pm(s), _pm(s["best_val"]), _pm(d.get("final"), signed=True),
                             _pm(d.get("best_val"), signed=True), wins, len(s["runs"]), f"{s['train_s']:.0f}",
                             f"{s['peak_mb']:.1f}"])
        return markdown_table(["T", "method", "final test %", "best-val-epoch test %",
                               f"{REFERENCE} − method, final (points)", f"{REFERENCE} − method, best-val",
                               f"{REFERENCE} ahead (seeds)", "seeds", "train_s", "peak_mb"], rows)

    main = {k: v for k, v in report.items() if k.startswith("T") and k[1:].isdigit()}
    se = 100 * (0.03 * 0.97 / report["test_samples"]) ** 0.5
    lines = [f"# Method benchmark: {report['dataset']}, {report['arch']}, {report['recipe']} recipe", "",
             f"Teacher ({report['arch']} ANN, {report['teacher_epochs']} epochs) test accuracy: "
             f"{100 * report['teacher_acc']:.2f}%. Students: {report['arch']} SNN, {report['epochs']} epochs each, "
             f"seeds {report['seeds']}; {report['train_samples']} training / {report['val_samples']} validation / "
             f"{report['test_samples']} test samples (binomial standard error of one run's accuracy at 97%: "
             f"{se:.2f} points). Final-epoch test accuracy and the test accuracy at the best-validation epoch "
             "(chosen on validation only), mean ± std over seeds; paired differences per seed against "
             f"{REFERENCE} (positive: {REFERENCE} ahead). train_s: training seconds per run (mean; shared 2-core "
             "CPU, two runs at a time), peak_mb: peak extra allocated memory of a training run (MiB, mean).", "",
             table(main)]
    if report.get("ablations"):
        lines += ["", f"## Ablations (blockwise, rate-BP; seeds {report['ablation_seeds']})", "",
                  table(report["ablations"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DEFAULT_ARCH), default="mnist1d")
    ap.add_argument("--arch", default=None, help="student and teacher arch (default: resnet1d on mnist1d, cnn on "
                                                 "digits; cnn1d: the 3-stage net of the earlier table)")
    ap.add_argument("--recipe", choices=["adamw", "paper"], default="adamw",
                    help="student recipe: the arch config's AdamW one, or paper (examples/configs/paper_recipe.yaml)")
    ap.add_argument("--num-samples", type=int, default=None,
                    help="mnist1d: signals generated (data.num_samples; default: the arch setup's, 10000 for "
                         "resnet1d, the published 5000 for cnn1d)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--T", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--epochs", type=int, default=None, help="student epochs, equal for every method (default: "
                                                             "the setup's: 12 for resnet1d, 20 for cnn1d/cnn)")
    ap.add_argument("--ablations", action="store_true", help="also run the blockwise ablations")
    ap.add_argument("--ablation-T", type=int, nargs="+", default=[4])
    ap.add_argument("--ablation-variants", nargs="+", choices=ABLATION_NAMES, default=ABLATION_NAMES[:4])
    ap.add_argument("--ablation-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--ablations-only", action="store_true",
                    help="only the ablations (same run folders; results to methods_<...>_ablations.*), e.g. "
                         "next to a running main benchmark; a later full run finds them cached")
    ap.add_argument("--collect", action="store_true",
                    help="train nothing: report the finished runs of these settings (e.g. after several invocations)")
    ap.add_argument("--teacher", default=None, help="reuse this teacher run folder instead of training one")
    ap.add_argument("--jobs", type=int, default=2, help="trainings at a time (each its own process)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training")
    ap.add_argument("--tag", default="", help="suffix for the run folder and result names")
    args = ap.parse_args()

    from neurokd.data import load_dataset
    from neurokd.io import write_json, write_text
    from neurokd.models import build_model
    from neurokd.train.setup import model_spec_for

    try:
        rec = recipe(args.dataset, args.arch, args.num_samples, args.epochs, args.threads, args.tag)
    except ValueError as e:
        ap.error(str(e))
    arch, num_samples, epochs, base_files, work = rec.arch, rec.num_samples, rec.epochs, rec.base_files, rec.work
    student_files = base_files + ([str(PAPER_RECIPE)] if args.recipe == "paper" else [])
    tag = f"_{args.tag}" if args.tag else ""
    result_name = f"methods_{args.dataset}{rec.name_arch}{'_paper' if args.recipe == 'paper' else ''}{tag}"
    if args.ablations_only:
        result_name += "_ablations"
    prefix = "paper_" if args.recipe == "paper" else ""
    t_start = time.perf_counter()
    teacher_over = rec.teacher_overrides()
    teacher_cfg = config_from(base_files, "teacher", work, teacher_over)
    splits = load_dataset(teacher_cfg.data, 0)  # generates (and caches) the data once, before the workers start
    if args.teacher:
        teacher_dir = args.teacher
        teacher = json.loads((Path(teacher_dir) / "summary.json").read_text())
    else:
        print(f"methods benchmark on {args.dataset} ({arch}, {num_samples or 'default'} samples): teacher",
              file=sys.stderr)
        teacher = run_in_process(base_files, "teacher", work, teacher_over)
        teacher_dir = str(teacher_cfg.run_dir)
    twin = build_model(model_spec_for(teacher_cfg, splits))  # the student's twin: same stages and branch points
    variants = ablations(epochs, twin.stage_names, twin.branch_points())

    # (section, T, method, seed, overrides); seeds outermost, so a cut-short run has every method at some seeds
    jobs = []
    for seed in [] if args.ablations_only else args.seeds:
        for T in args.T:
            for m in args.methods:
                jobs.append(("main", T, m, seed, METHODS[m]))
    if args.ablations or args.ablations_only:
        queued = {(T, m, seed) for _, T, m, seed, _ in jobs}
        for seed in args.ablation_seeds:  # the reference at the ablation seeds (cached when the main run had it)
            for T in args.ablation_T:
                if (T, REFERENCE, seed) not in queued:
                    jobs.append(("main", T, REFERENCE, seed, METHODS[REFERENCE]))
        for seed in args.ablation_seeds:
            for T in args.ablation_T:
                for m in args.ablation_variants:
                    if m in variants:
                        jobs.append(("ablations", T, m, seed, variants[m]))

    done: dict[tuple[str, int, str], dict[int, dict[str, Any]]] = {}
    report: dict[str, Any] = {}
    lock = threading.Lock()
    order = [*METHODS, *ABLATION_NAMES]

    def write() -> None:
        with lock:
            finished = {k: dict(v) for k, v in done.items()}
        sections: dict[str, dict[str, Any]] = {"main": {}, "ablations": {}}
        for (section, T, m), by_seed in sorted(finished.items(), key=lambda kv: (kv[0][1], order.index(kv[0][2]))):
            ref = finished.get(("main", T, REFERENCE))
            sections[section].setdefault(f"T{T}", {})[m] = row(by_seed, ref)
        report.clear()
        report.update({
            "teacher_acc": teacher["test_acc"], **sections["main"], "ablations": sections["ablations"],
            "dataset": args.dataset, "arch": arch, "teacher_arch": teacher["arch"], "teacher_dir": teacher_dir,
            "teacher_epochs": teacher_cfg.optim.epochs, "recipe": args.recipe,
            "recipe_files": [str(Path(f).relative_to(ROOT)) for f in student_files], "epochs": epochs,
            "seeds": args.seeds, "ablation_seeds": args.ablation_seeds, "num_samples": num_samples,
            "train_samples": len(splits.train), "val_samples": len(splits.val), "test_samples": len(splits.test),
            "reference": REFERENCE, "settings": {**METHODS, **variants}, "threads": args.threads, "jobs": args.jobs,
            "note": "mean/std/runs: final-epoch test accuracy; best_val: test accuracy at the best-validation epoch "
                    f"(selected on validation only); vs_{REFERENCE}: per-seed {REFERENCE} minus this method. "
                    "train_s and peak_mb measured on a shared 2-core CPU (under contention; peak_mb: allocated "
                    "memory above the start of training, fresh process per run)",
            "benchmark_seconds": None if args.collect else round(time.perf_counter() - t_start, 1)})
        write_json(RESULTS / f"{result_name}.json", report)
        write_text(RESULTS / f"{result_name}.md", markdown_report(report))

    def one(job) -> None:
        section, T, m, seed, over = job
        name = f"{prefix}T{T}_{m.replace('/', '-')}_s{seed}"
        overrides = rec.student_overrides(T, seed, over, teacher_dir)
        if args.collect:
            summary = _cached_summary(config_from(student_files, name, work, overrides))
            if summary is None:
                return
        else:
            summary = run_in_process(student_files, name, work, overrides)
        with lock:
            done.setdefault((section, T, m), {})[seed] = summary

    failed = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # a failed run is reported; the others go on
        futures = {pool.submit(one, j): j for j in jobs}
        for fut in as_completed(futures):
            try:
                fut.result()
            except Exception as e:  # noqa: BLE001 (a worker's failure of any kind)
                section, T, m, seed, _ = futures[fut]
                failed.append(f"T{T} {m} seed {seed}")
                print(f"FAILED T{T} {m} seed {seed}: {e}", file=sys.stderr)
            write()
    write()
    print(markdown_report(report))
    if failed:
        sys.exit(f"{len(failed)} runs failed: {', '.join(failed)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:6])
    else:
        main()
