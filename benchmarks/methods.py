"""Method benchmark: no KD vs the best seed-001 KD vs block-wise replacement under rate-BP and under BPTT.

One ANN teacher (the dataset's example recipe, seed 0), then SNN students with the same recipe and the same epoch
budget for every method, at T = 2 and T = 4, over 3 seeds; every method at a given seed starts from the same
initial weights. Methods (the JSON's row keys):

- ``none``: cross-entropy, BPTT;
- ``response+feature``: the best seed-001 variant of ``benchmarks/kd.py`` (its settings, ``KD_SETTINGS``), BPTT;
- ``blockwise_rate`` / ``blockwise_bptt``: ``distill.method: blockwise`` with its defaults (branches after every
  stage but the last, w_i = 2^-(n-i), 1x1 conv + BN aligners, CE + KD on the SNN and every hybrid, a 0.5, tau 4),
  trained with ``train.backprop: rate`` / ``bptt``.

``--ablations`` adds blockwise (rate-BP) variants at ``--ablation-T``: no aligner, CE-only hybrids, progressive
schedule (hybrids switched on over the first half of training).

Every training runs in a fresh Python process (``--jobs`` at a time); ``peak_mb`` is the run summary's
``peak_mem_mb``: the peak bytes allocated during the training epochs above those allocated when training started,
MiB (glibc's malloc on CPU, tensors on CUDA). Test accuracy is the final epoch's. Writes
``benchmarks/results/methods_<dataset>.json``::

    {"teacher_acc": ..., "T2": {"<method>": {"mean", "std", "runs", "train_s", "peak_mb"}, ...}, "T4": {...},
     "ablations": {"T4": {...}}, settings...}

(``train_s``, ``peak_mb``: means over seeds) and ``methods_<dataset>.md``, rewritten after every finished run, so
an interrupted benchmark leaves valid partial results. Run folders go to ``runs/bench/methods_<dataset>/`` and are
reused when their config is unchanged.

    python benchmarks/methods.py --dataset mnist1d|digits [--seeds 0 1 2] [--T 2 4] [--epochs N] [--jobs 2]
                                 [--methods ...] [--ablations] [--teacher DIR] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kd import KD_SETTINGS, RECIPES, ROOT, _cached_summary, _config  # noqa: E402 (benchmarks is not a package)

RESULTS = Path(__file__).parent / "results"
BLOCKWISE = {"distill.method": "blockwise", "distill.alpha": 0.5, "distill.tau": 4.0}
METHODS: dict[str, dict[str, Any]] = {
    "none": {},
    "response+feature": {"distill.method": "response+feature", **KD_SETTINGS["response+feature"]},
    "blockwise_rate": {**BLOCKWISE, "train.backprop": "rate"},
    "blockwise_bptt": {**BLOCKWISE, "train.backprop": "bptt"},
}


def ablations(epochs: int) -> dict[str, dict[str, Any]]:
    rate = METHODS["blockwise_rate"]
    return {
        "blockwise_rate/no_aligner": {**rate, "distill.aligner": "none"},
        "blockwise_rate/ce_branches": {**rate, "distill.branch_loss": "ce"},
        "blockwise_rate/progressive": {**rate, "distill.progressive_epochs": max(1, epochs // 2)},
    }


def worker(dataset: str, name: str, work: str, overrides: str) -> None:
    """One training in this process (``--worker``): the run folder gets config, checkpoints and summary."""
    from kd import train_one

    from neurokd.data import load_dataset

    cfg = _config(dataset, name, Path(work), json.loads(overrides))
    train_one(cfg, load_dataset(cfg.data, 0), name)


def run_in_process(dataset: str, name: str, work: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    cfg = _config(dataset, name, work, overrides)
    cached = _cached_summary(cfg)
    if cached is not None:
        print(f"  {name}: cached test_acc {cached['test_acc']:.4f}", file=sys.stderr)
        return cached
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--worker", dataset, name, str(work), json.dumps(overrides)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{r.stderr[-3000:]}")
    summary = json.loads((cfg.run_dir / "summary.json").read_text())
    print(f"  {name}: test_acc {summary['test_acc']:.4f}  peak {summary['peak_mem_mb']} MiB  "
          f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return summary


def _row(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    accs = [s["test_acc"] for s in summaries]
    return {"mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "runs": accs,
            "train_s": round(statistics.fmean(s["train_seconds"] for s in summaries), 1),
            "peak_mb": round(statistics.fmean(s["peak_mem_mb"] for s in summaries), 1)}


def markdown_report(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    def table(section: dict[str, Any]) -> str:
        rows = []
        for T, by_method in section.items():
            for m, s in by_method.items():
                rows.append([T, m, f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}", len(s["runs"]), f"{s['train_s']:.1f}",
                             f"{s['peak_mb']:.1f}"])
        return markdown_table(["T", "method", "test acc % (mean ± std)", "seeds", "train_s", "peak_mb"], rows)

    main = {k: v for k, v in report.items() if k.startswith("T") and k[1:].isdigit()}
    lines = [f"# Method benchmark: {report['dataset']}", "",
             f"Teacher ({report['teacher_arch']} ANN, {report['teacher_epochs']} epochs) test accuracy: "
             f"{100 * report['teacher_acc']:.2f}%. Students: {report['teacher_arch']} SNN, {report['epochs']} epochs "
             f"each, seeds {report['seeds']}; final-epoch accuracy over {report['test_samples']} test samples. "
             "train_s: seconds per run (mean), peak_mb: peak extra allocated memory of a training run (MiB, mean; "
             "fresh process per run).", "", table(main)]
    if report.get("ablations"):
        lines += ["", "## Ablations (blockwise, rate-BP)", "", table(report["ablations"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(RECIPES), default="mnist1d")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--T", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    ap.add_argument("--epochs", type=int, default=20, help="student epochs (equal for every method)")
    ap.add_argument("--ablations", action="store_true", help="also run the blockwise ablations")
    ap.add_argument("--ablation-T", type=int, nargs="+", default=[4])
    ap.add_argument("--ablation-variants", nargs="+", choices=list(ablations(1)), default=list(ablations(1)))
    ap.add_argument("--ablation-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--ablations-only", action="store_true",
                    help="only the ablations (same run folders; results to methods_<dataset>_ablations.*), e.g. "
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

    tag = f"_{args.tag}" if args.tag else ""
    work = ROOT / "runs" / "bench" / f"methods_{args.dataset}{tag}"
    if args.ablations_only:
        tag += "_ablations"
    common: dict[str, Any] = {"train.threads": args.threads}
    t_start = time.perf_counter()
    teacher_over = {**common, "model.kind": "ann", "seed": 0}
    teacher_cfg = _config(args.dataset, "teacher", work, teacher_over)
    splits = load_dataset(teacher_cfg.data, 0)
    if args.teacher:
        teacher_dir = args.teacher
        teacher = json.loads((Path(teacher_dir) / "summary.json").read_text())
    else:
        print(f"methods benchmark on {args.dataset}: teacher", file=sys.stderr)
        teacher = run_in_process(args.dataset, "teacher", work, teacher_over)
        teacher_dir = str(teacher_cfg.run_dir)

    # (section, T, method, seed, overrides); seeds outermost, so a cut-short run has every method at some seeds
    jobs = []
    for seed in [] if args.ablations_only else args.seeds:
        for T in args.T:
            for m in args.methods:
                jobs.append(("main", T, m, seed, METHODS[m]))
    if args.ablations or args.ablations_only:
        for T in args.ablation_T:
            for seed in args.ablation_seeds:
                for m, over in ablations(args.epochs).items():
                    if m in args.ablation_variants:
                        jobs.append(("ablations", T, m, seed, over))

    done: dict[tuple[str, int, str], dict[int, dict[str, Any]]] = {}
    report: dict[str, Any] = {}
    lock = threading.Lock()

    def write() -> None:
        with lock:
            finished = {k: dict(v) for k, v in done.items()}
        main_rows: dict[str, Any] = {}
        abl_rows: dict[str, Any] = {}
        for (section, T, m), by_seed in sorted(finished.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            target = main_rows if section == "main" else abl_rows
            target.setdefault(f"T{T}", {})[m] = _row([by_seed[s] for s in sorted(by_seed)])
        for rows in (main_rows, abl_rows):  # methods in the order they were asked for
            for T in rows:
                rows[T] = dict(sorted(rows[T].items(), key=lambda kv: [*METHODS, *ablations(1)].index(kv[0])))
        report.clear()
        report.update({"teacher_acc": teacher["test_acc"], **main_rows, "ablations": abl_rows,
                       "dataset": args.dataset, "teacher_arch": teacher["arch"], "teacher_dir": teacher_dir,
                       "teacher_epochs": teacher_cfg.optim.epochs, "epochs": args.epochs, "seeds": args.seeds,
                       "test_samples": len(splits.test), "settings": {**METHODS, **ablations(args.epochs)},
                       "recipe": str(RECIPES[args.dataset].relative_to(ROOT)), "threads": args.threads,
                       "jobs": args.jobs, "note": "train_s and peak_mb measured on a shared 2-core CPU (under "
                       "contention; peak_mb: allocated memory above the start of training, fresh process per run)",
                       "benchmark_seconds": None if args.collect else round(time.perf_counter() - t_start, 1)})
        write_json(RESULTS / f"methods_{args.dataset}{tag}.json", report)
        write_text(RESULTS / f"methods_{args.dataset}{tag}.md", markdown_report(report))

    def one(job) -> None:
        section, T, m, seed, over = job
        name = f"T{T}_{m.replace('/', '-')}_s{seed}"
        overrides = {**common, "optim.epochs": args.epochs, "model.kind": "snn", "model.T": T, "seed": seed, **over}
        if m != "none":
            overrides["distill.teacher"] = teacher_dir
        if args.collect:
            summary = _cached_summary(_config(args.dataset, name, work, overrides))
            if summary is None:
                return
        else:
            summary = run_in_process(args.dataset, name, work, overrides)
        with lock:
            done.setdefault((section, T, m), {})[seed] = summary

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for fut in [pool.submit(one, j) for j in jobs]:
            fut.result()
            write()
    print(markdown_report(report))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:6])
    else:
        main()
