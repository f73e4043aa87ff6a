"""Conversion benchmark: ANN-to-SNN conversion against distillation, and conversion as a student's starting point.

On the methods benchmark's data, teacher and student recipe (``benchmarks/methods.py``: MNIST-1D ``resnet1d``,
10000 signals, AdamW; digits ``cnn``), three parts:

- ``sweep``: converted test accuracy at T = 1, 2, 4, 8, 16, 32, 64 for threshold balancing (the ReLU teacher, i.e.
  the methods benchmark's teacher) and QCFS (teachers trained with ``model.activation: qcfs``, L = 4 and 8, same
  recipe otherwise), with each conversion's wall time (median of ``--timing-repeats``; calibration on 1024
  training signals included, evaluation not).
- ``finetune``: SNN students from random weights vs from the converted ReLU teacher (``distill.init: converted``,
  threshold balancing), blockwise rate-BP and response KD (the methods benchmark's settings), T = 2 and 4, seeds
  0-4, at 12 and at 3 epochs. Both inits use the converted neuron (IF, subtract reset; the recipe's surrogate), so
  the init is the only difference; the methods benchmark's own LIF students are quoted for reference from its JSON.
- ``robustness``: the corruption suite (``neurokd.eval.robustness``) on the teacher, the converted SNNs and the
  12-epoch students at ``--robustness-T`` (seeds ``--robustness-seeds``).

Writes ``benchmarks/results/conversion_<dataset>.{json,md}``, rewritten after every finished run::

    {"teacher": {"relu": acc, "qcfs_L4": acc, "qcfs_L8": acc},
     "rows": [{"method", "L", "T", "test_acc", "seconds", "seconds_runs"}, ...],
     "finetune": {"T2": {"12": {"<init>_<method>": {"mean", "std", "runs", "seeds", "first_epoch_val", "train_s"},
                             ...}, "3": ...}, ...},
     "robustness": {...}, "part_seconds": {part: wall seconds of its latest run}, settings...}

and renders the tables of ``docs/conversion.md`` and ``docs/distillation.md`` (between ``<!-- conversion:... -->``
markers) from the JSONs. Every training runs in a fresh process (``--jobs`` at a time, ``--threads`` each); run
folders go to ``runs/bench/conversion_<dataset>[_n<samples>]/`` (the ReLU teacher: the methods benchmark's folder)
and are reused when their config is unchanged.

    python benchmarks/conversion.py [--dataset mnist1d|digits] [--parts sweep finetune robustness]
                                    [--seeds 0 1 2 3 4] [--T 2 4] [--budgets 12 3] [--jobs 1] [--threads 1]
    python benchmarks/conversion.py --dataset mnist1d --parts sweep   # conversion rows only (cheap; times them)
    python benchmarks/conversion.py --render-docs                     # docs tables from the JSONs, nothing run
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kd import ROOT, _cached_summary, config_from  # noqa: E402 (benchmarks is not a package)
from methods import METHODS, RESULTS, Recipe, recipe, run_in_process  # noqa: E402

PARTS = ("sweep", "finetune", "robustness")
SWEEP_T = [1, 2, 4, 8, 16, 32, 64]
LEVELS = [4, 8]
FINETUNE_METHODS = ("blockwise_rate", "response")
INITS = ("random", "converted")
HALF = 0.5  # the half-threshold start (QCFS's shift): measured to help threshold balancing at small T too
# students of both inits run the converted neuron: IF, subtract reset, membrane starting at half the threshold
CONVERTED_NEURON = {"model.neuron.type": "if", "model.neuron.reset": "subtract", "model.neuron.initial_membrane": HALF}
CONVERTED_INIT = {"distill.init": "converted", "convert.initial_membrane": HALF}
DOCS = {"conversion": ROOT / "docs" / "conversion.md", "distillation": ROOT / "docs" / "distillation.md"}
SECONDS_NOTE = ("conversion wall times: seconds, median of --timing-repeats conversions with --threads torch "
                "threads, measured with nothing else running (`--parts sweep` alone); fine-tuning train_s ran "
                "--jobs trainings at a time")


def teacher_overrides(rec: Recipe, levels: int | None) -> dict[str, Any]:
    """The methods benchmark's teacher; with ``levels``, the same recipe trained with the QCFS activation."""
    over = rec.teacher_overrides()
    return over if levels is None else {**over, "model.activation": "qcfs", "model.qcfs_levels": levels}


def train_teachers(rec: Recipe, work: Path, levels: list[int]) -> dict[str, dict[str, Any]]:
    """``{"relu" | "qcfs_L<L>": {"dir", "test_acc"}}``; the ReLU teacher lives in the methods benchmark's folder."""
    out = {}
    for key, lv, folder, name in [("relu", None, rec.work, "teacher"),
                                  *[(f"qcfs_L{L}", L, work, f"teacher_qcfs_L{L}") for L in levels]]:
        summary = run_in_process(rec.base_files, name, folder, teacher_overrides(rec, lv))
        out[key] = {"dir": str(folder / name), "test_acc": summary["test_acc"], "levels": lv}
    return out


def conversions(teachers: dict[str, dict[str, Any]]) -> list[tuple[str, str, float]]:
    """``(teacher key, method, initial membrane)`` of every swept conversion: threshold balancing from 0 (as
    Rueckauer et al.) and from half the threshold, and QCFS (which starts at half by definition)."""
    out = [("relu", "threshold-balance", 0.0), ("relu", "threshold-balance", HALF)]
    return out + [(key, "qcfs", HALF) for key in teachers if key.startswith("qcfs_")]


def sweep(rec: Recipe, teachers: dict[str, dict[str, Any]], Ts: list[int], repeats: int,
          threads: int) -> list[dict[str, Any]]:
    """One row per (method, L, T): converted test accuracy and the conversion's wall time."""
    import torch

    from neurokd import load_model
    from neurokd.config import ConvertConfig
    from neurokd.convert.calibration import calibration_batches, input_scale
    from neurokd.convert.methods import convert_model
    from neurokd.data import load_dataset, make_loaders
    from neurokd.eval.accuracy import evaluate

    torch.set_num_threads(threads)
    cfg = config_from(rec.base_files, "teacher", rec.work, rec.teacher_overrides())
    splits = load_dataset(cfg.data, cfg.seed)
    test = make_loaders(splits, cfg.data, cfg.seed)[2]
    cc = ConvertConfig()
    rows = []
    for key, method, v0 in conversions(teachers):
        ann = load_model(teachers[key]["dir"])
        L = ann.spec.qcfs_levels if method == "qcfs" else None
        for T in Ts:
            seconds, conversion = [], None
            for _ in range(repeats):
                batches = calibration_batches(splits, cc.calibration_samples, cfg.data.eval_batch_size)
                conversion = convert_model(ann, T, method, batches, cc.percentile, input_scale=input_scale(splits),
                                           initial_membrane=v0)
                seconds.append(conversion.seconds)
            acc = evaluate(conversion.model, test)["acc"]
            row = {"method": method, "L": L, "initial_membrane": v0, "T": T, "test_acc": acc,
                   "seconds": statistics.median(seconds), "seconds_runs": seconds}
            rows.append(row)
            print(f"  {conversion_label(row)} T={T}: {100 * acc:.2f}%  ({row['seconds']:.3f}s)", file=sys.stderr)
    return rows


def conversion_label(row: dict[str, Any]) -> str:
    """``threshold-balance``, ``threshold-balance, starts at θ/2`` or ``qcfs, L = 4``."""
    if row["method"] == "qcfs":
        return f"qcfs, L = {row['L']}"
    return row["method"] + (", starts at θ/2" if row.get("initial_membrane") else "")


def finetune_jobs(seeds: list[int], Ts: list[int], budgets: list[int]) -> list[tuple[int, int, str, str, int]]:
    """``(budget, T, init, method, seed)``, seeds outermost: a cut-short run has every setting at some seeds."""
    return [(b, T, init, m, s) for s in seeds for b in budgets for T in Ts for m in FINETUNE_METHODS for init in INITS]


def finetune_name(job: tuple[int, int, str, str, int]) -> str:
    budget, T, init, method, seed = job
    return f"T{T}_e{budget}_{init}_{method}_s{seed}"


def finetune_overrides(rec: Recipe, teacher_dir: str, budget: int, T: int, init: str, method: str,
                       seed: int) -> dict[str, Any]:
    over = {**METHODS[method], **CONVERTED_NEURON, **(CONVERTED_INIT if init == "converted" else {})}
    return rec.student_overrides(T, seed, over, teacher_dir, epochs=budget)


def first_val_acc(run_dir: Path) -> float:
    """Validation accuracy after the first epoch (how far a start carries), from the run's metrics.jsonl."""
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])["val_acc"]


def _stats(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


def finetune_section(done: dict[tuple[int, int, str, str], dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """``T<T> -> "<budget>" -> "<init>_<method>" -> {mean, std, runs, seeds, train_s}``."""
    out: dict[str, Any] = {}
    for (budget, T, init, method), by_seed in sorted(done.items(), key=lambda kv: (kv[0][1], -kv[0][0])):
        seeds = sorted(by_seed)
        out.setdefault(f"T{T}", {}).setdefault(str(budget), {})[f"{init}_{method}"] = {
            **_stats([by_seed[s]["test_acc"] for s in seeds]), "seeds": seeds,
            "first_epoch_val": statistics.fmean(by_seed[s]["first_val_acc"] for s in seeds),
            "train_s": round(statistics.fmean(by_seed[s]["train_seconds"] for s in seeds), 1)}
    return out


def robustness(rec: Recipe, work: Path, teachers: dict[str, dict[str, Any]], T: int, seeds: list[int],
               budget: int, threads: int) -> dict[str, Any]:
    """The corruption suite on the ReLU teacher, the converted SNNs at ``T`` and the ``budget``-epoch students at
    ``T`` (mean over ``seeds`` per group)."""
    import torch

    from neurokd import load_model
    from neurokd.convert.calibration import calibration_batches
    from neurokd.convert.methods import convert_model
    from neurokd.data import load_dataset
    from neurokd.eval.robustness import aggregate_seeds, default_corruptions, evaluate_robustness

    torch.set_num_threads(threads)
    cfg = config_from(rec.base_files, "teacher", rec.work, rec.teacher_overrides())
    splits = load_dataset(cfg.data, cfg.seed)
    models = {"teacher (ReLU ANN)": load_model(teachers["relu"]["dir"])}
    groups = {name: [name] for name in models}
    for key, method, v0 in conversions(teachers)[1:]:  # the θ/2 start: the better threshold balancing
        L = teachers[key].get("levels")
        name = f"converted: {conversion_label({'method': method, 'L': L, 'initial_membrane': v0})}, T = {T}"
        models[name] = convert_model(load_model(teachers[key]["dir"]), T, method,
                                     calibration_batches(splits, 1024, cfg.data.eval_batch_size),
                                     initial_membrane=v0).model
        groups[name] = [name]
    for init in INITS:
        for method in FINETUNE_METHODS:
            group = f"T{T} {init}_{method} ({budget} epochs)"
            groups[group] = []
            for seed in seeds:
                folder = work / f"T{T}_e{budget}_{init}_{method}_s{seed}"
                if (folder / "model.safetensors").is_file():
                    models[f"{group} s{seed}"] = load_model(folder)
                    groups[group].append(f"{group} s{seed}")
            if not groups[group]:
                del groups[group]
    result = evaluate_robustness(models, splits.test, default_corruptions(splits.input_shape), seed=0,
                                 progress=False)
    summary = aggregate_seeds(result, groups)
    summary["mean_corrupted"] = {g: statistics.fmean(a for per_group in summary["acc"].values() for a in per_group[g])
                                 for g in groups}
    summary.update({"T": T, "seeds": seeds, "epochs": budget})
    return summary


# ------------------------------------------------------------------------------------------------- reports

def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _pm(s: dict[str, Any] | None) -> str:
    return "-" if not s else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def sweep_table(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    Ts = sorted({r["T"] for r in report.get("rows", [])})
    labels = list(dict.fromkeys(conversion_label(r) for r in report.get("rows", [])))
    rows = []
    for label in labels:
        cell = {r["T"]: r for r in report["rows"] if conversion_label(r) == label}
        L = next(iter(cell.values()))["L"]
        teacher = report["teacher"].get("relu" if L is None else f"qcfs_L{L}")
        secs = [cell[T]["seconds"] for T in Ts if T in cell]
        rows.append([label, _pct(teacher),
                     *[_pct(cell[T]["test_acc"]) if T in cell else "-" for T in Ts],
                     f"{statistics.median(secs):.3f}" if secs else "-"])
    return markdown_table(["conversion", "its teacher (ANN) %", *[f"T = {T}" for T in Ts], "seconds (median)"], rows)


def finetune_table(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    ref = report.get("reference") or {}
    rows = []
    for T, by_budget in report.get("finetune", {}).items():
        for budget, cells in by_budget.items():
            for method in FINETUNE_METHODS:
                r, c = cells.get(f"random_{method}"), cells.get(f"converted_{method}")
                lif = ref.get(T, {}).get(method) if str(ref.get("epochs")) == budget else None
                first = " / ".join(_pct(x.get("first_epoch_val")) if x else "-" for x in (r, c))
                seeds = "/".join(str(len(x["runs"])) if x else "0" for x in (r, c))
                rows.append([T[1:], budget, method, seeds, _pm(r), _pm(c), _paired(c, r), first, _pm(lif)])
    return markdown_table(["T", "epochs", "method", "seeds", "from random weights %", "from the conversion %",
                           "conversion − random (points, seeds ahead)", "val % after epoch 1 (random / conversion)",
                           "methods benchmark, LIF %"], rows)


def _paired(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if not a or not b:
        return "-"
    common = sorted(set(a["seeds"]) & set(b["seeds"]))
    da, db = dict(zip(a["seeds"], a["runs"])), dict(zip(b["seeds"], b["runs"]))
    d = [100 * (da[s] - db[s]) for s in common]
    if not d:
        return "-"
    std = statistics.stdev(d) if len(d) > 1 else 0.0
    return f"{statistics.fmean(d):+.2f} ± {std:.2f} ({sum(x > 0 for x in d)}/{len(d)})"


def methods_reference(dataset: str) -> dict[str, Any] | None:
    """The methods benchmark's own students (its LIF neuron) for the fine-tuned methods, from its JSON."""
    path = RESULTS / f"methods_{dataset}.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    ref: dict[str, Any] = {"source": f"benchmarks/results/{path.name}", "epochs": m["epochs"],
                           "neuron": "the recipe's LIF (beta 0.5, zero reset)"}
    for T in ("T2", "T4"):
        cells = {k: {"mean": v["mean"], "std": v["std"], "runs": v["runs"], "seeds": v.get("seeds", m["seeds"])}
                 for k, v in m.get(T, {}).items() if k in FINETUNE_METHODS}
        if cells:
            ref[T] = cells
    return ref


def _candidates(report: dict[str, Any], T_key: str, budget: str) -> list[tuple[str, dict[str, Any]]]:
    """``(label, stats)`` of every student measured at ``T_key`` and ``budget`` epochs, the reference's too."""
    out = [(_option(k), v) for k, v in report["finetune"][T_key][budget].items()]
    ref = report.get("reference") or {}
    if str(ref.get("epochs")) == budget:
        out += [(_option(f"random_{k}") + ", LIF (methods benchmark)", v) for k, v in ref.get(T_key, {}).items()]
    return out


def decisions(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per T of the fine-tuning part and per budget (0 = no training), the best measured option and the next."""
    out = []
    rows = report.get("rows", [])
    for T_key, by_budget in report.get("finetune", {}).items():
        T = int(T_key[1:])
        conv = sorted((r for r in rows if r["T"] == T), key=lambda r: r["test_acc"], reverse=True)
        if conv:
            labels = [f"convert: {conversion_label(r)}" + ("" if r["L"] is None else " (a QCFS teacher)")
                      for r in conv]
            out.append({"T": T, "epochs": 0, "choice": labels[0], "acc": conv[0]["test_acc"], "std": None,
                        "runner_up": None if len(conv) < 2 else (labels[1], conv[1]["test_acc"])})
        for budget in sorted(by_budget, key=int):
            ranked = sorted(_candidates(report, T_key, budget), key=lambda c: c[1]["mean"], reverse=True)
            (label, best), rest = ranked[0], ranked[1:]
            out.append({"T": T, "epochs": int(budget), "choice": label, "acc": best["mean"], "std": best["std"],
                        "runner_up": None if not rest else (rest[0][0], rest[0][1]["mean"])})
    return out


def _option(key: str) -> str:
    init, _, method = key.partition("_")
    what = {"blockwise_rate": "blockwise rate-BP", "response": "response KD"}[method]
    return f"convert, then distill ({what})" if init == "converted" else f"distill from random weights ({what})"


def decision_table(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    rows = []
    for d in decisions(report):
        acc = f"{100 * d['acc']:.2f}" + ("" if d["std"] is None else f" ± {100 * d['std']:.2f}")
        ru = "-" if d["runner_up"] is None else f"{d['runner_up'][0]}: {100 * d['runner_up'][1]:.2f}"
        rows.append([d["T"], d["epochs"] or "0 (conversion only)", d["choice"], acc, ru])
    return markdown_table(["T", "training epochs", "best measured", "test % (mean ± std over seeds)", "runner-up"],
                          rows)


def robustness_table(report: dict[str, Any]) -> str:
    from neurokd.tables import markdown_table

    rob = report.get("robustness")
    if not rob:
        return "(not measured)"
    corruptions = list(rob["acc"])
    rows = [[g, _pct(rob["clean"][g]), _pct(rob["mean_corrupted"][g]),
             *[_pct(statistics.fmean(rob["acc"][c][g])) for c in corruptions]] for g in rob["clean"]]
    return markdown_table(["model", "clean %", "mean corrupted %", *[f"{c} %" for c in corruptions]], rows)


def targets(report: dict[str, Any]) -> list[str]:
    """The issue's targets, checked on the numbers."""
    lines = []
    for L in LEVELS:
        teacher = report["teacher"].get(f"qcfs_L{L}")
        row = next((r for r in report.get("rows", []) if r["method"] == "qcfs" and r["L"] == L and r["T"] == 2 * L),
                   None)
        if teacher is not None and row is not None:
            gap = round(100 * (teacher - row["test_acc"]), 2)
            lines.append(f"QCFS conversion at T = 2L = {2 * L}: {_pct(row['test_acc'])}% against its L = {L} teacher's "
                         f"{_pct(teacher)}% ({abs(gap):.2f} points {'below' if gap >= 0 else 'above'} it; target: within 1): "
                         f"{'met' if gap <= 1.0 else 'missed'}.")
    cells = report.get("finetune", {}).get("T2", {}).get("12", {})
    c, r = cells.get("converted_blockwise_rate"), cells.get("random_blockwise_rate")
    relu = report["teacher"].get("relu")
    if c and r and relu is not None:
        ahead = c["mean"] >= r["mean"]
        gap = 100 * (relu - c["mean"])
        lines.append(f"Blockwise rate-BP at T = 2, 12 epochs: from the conversion {_pm(c)}%, from random weights "
                     f"{_pm(r)}% (paired {_paired(c, r)}): {'at least as accurate' if ahead else 'less accurate'}; "
                     f"{gap:.2f} points below the ReLU teacher's {_pct(relu)}% (target: within 2): "
                     f"{'met' if ahead and gap <= 2.0 else 'missed'}.")
    return lines


def markdown_report(report: dict[str, Any]) -> str:
    d = report["dataset"]
    sections = doc_sections(report)
    lines = [f"# Conversion benchmark: {d}, {report['arch']}", "",
             f"{report['test_samples']} test samples. {SECONDS_NOTE}.", "",
             "## Converted accuracy", "", sections[f"{d}:sweep"], "",
             "## Fine-tuning from the conversion vs from random weights", "",
             "Students of both inits: IF neurons, subtract reset, membrane starting at half the threshold, the methods "
             "benchmark's recipe and KD teacher (the ReLU one); mean ± std over seeds of the final-epoch test "
             "accuracy.", "", sections[f"{d}:finetune"], "",
             "## Convert, distill, or convert then distill?", "", sections[f"{d}:decisions"], "",
             "## Robustness", "", sections[f"{d}:robustness"]]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------------- docs

def _section(name: str, body: str) -> str:
    return f"<!-- conversion:{name} (generated by benchmarks/conversion.py from its JSON; do not edit) -->\n" \
           f"{body.rstrip()}\n<!-- conversion:{name} end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the marked section ``name`` replaced by ``body`` (ValueError when the markers are missing)."""
    pattern = re.compile(rf"<!-- conversion:{re.escape(name)} \(.*?-->\n.*?<!-- conversion:{re.escape(name)} end -->",
                         re.S)
    if not pattern.search(text):
        raise ValueError(f"no '<!-- conversion:{name} ...' section markers")
    return pattern.sub(lambda _m: _section(name, body), text)


def doc_sections(report: dict[str, Any]) -> dict[str, str]:
    """Section name -> generated Markdown for one dataset's report."""
    d = report["dataset"]
    teach = ", ".join(f"{k} {_pct(v)}%" for k, v in report["teacher"].items())
    pending = (f"(not measured yet: `python benchmarks/conversion.py --dataset {d} --parts finetune robustness`; "
               "the converted rows alone are in the table above)")
    sweep = f"Teachers: {teach}.\n\n" + sweep_table(report) if report.get("rows") else pending
    if not report.get("finetune"):
        return {f"{d}:sweep": sweep, f"{d}:finetune": pending, f"{d}:decisions": pending,
                f"{d}:robustness": pending}
    return {
        f"{d}:sweep": sweep,
        f"{d}:finetune": finetune_table(report),
        f"{d}:decisions": decision_table(report) + "\n\n" + "\n".join(f"- {t}" for t in targets(report)),
        f"{d}:robustness": robustness_table(report),
    }


def render_docs(datasets: list[str]) -> None:
    """Every generated table from the JSONs: ``conversion_<dataset>.md`` and the marked sections of the docs."""
    from neurokd.io import write_text

    reports = {d: json.loads((RESULTS / f"conversion_{d}.json").read_text()) for d in datasets
               if (RESULTS / f"conversion_{d}.json").is_file()}
    for d, report in reports.items():
        write_text(RESULTS / f"conversion_{d}.md", markdown_report(report))
    for path in DOCS.values():
        text = path.read_text()
        for report in reports.values():
            for name, body in doc_sections(report).items():
                if f"<!-- conversion:{name} (" in text:
                    text = replace_section(text, name, body)
        write_text(path, text)


# -------------------------------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=["mnist1d", "digits"], default="mnist1d")
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--num-samples", type=int, default=None, help="mnist1d signals (default: the methods setup's)")
    ap.add_argument("--sweep-T", type=int, nargs="+", default=SWEEP_T)
    ap.add_argument("--levels", type=int, nargs="+", default=LEVELS, help="QCFS teachers' quantization levels")
    ap.add_argument("--timing-repeats", type=int, default=3, help="conversions per row (median wall time)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--T", type=int, nargs="+", default=[2, 4], help="fine-tuning T")
    ap.add_argument("--budgets", type=int, nargs="+", default=[12, 3], help="fine-tuning epochs")
    ap.add_argument("--robustness-T", type=int, default=4)
    ap.add_argument("--robustness-seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=1, help="trainings at a time (each its own process)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per training and for the sweep")
    ap.add_argument("--render-docs", action="store_true",
                    help="only render the Markdown (results .md and the docs' tables) from the JSONs")
    args = ap.parse_args()
    if args.render_docs:
        render_docs(["mnist1d", "digits"])
        return

    from neurokd.io import write_json, write_text

    rec = recipe(args.dataset, num_samples=args.num_samples, threads=args.threads)
    work = rec.work.parent / rec.work.name.replace("methods_", "conversion_", 1)
    path = RESULTS / f"conversion_{args.dataset}.json"
    report: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    t_start = time.perf_counter()
    print(f"conversion benchmark on {args.dataset} ({rec.arch}): teachers", file=sys.stderr)
    teachers = train_teachers(rec, work, args.levels)
    cfg = config_from(rec.base_files, "teacher", rec.work, rec.teacher_overrides())
    from neurokd.data import load_dataset

    splits = load_dataset(cfg.data, cfg.seed)
    lock = threading.Lock()

    def write() -> None:
        with lock:
            report.update({
                "dataset": args.dataset, "arch": rec.arch, "num_samples": rec.num_samples,
                "teacher": {k: t["test_acc"] for k, t in teachers.items()},
                "teacher_dirs": {k: t["dir"] for k, t in teachers.items()}, "test_samples": len(splits.test),
                "recipe_files": [str(Path(f).relative_to(ROOT)) for f in rec.base_files],
                "finetune_settings": {"methods": {m: METHODS[m] for m in FINETUNE_METHODS},
                                      "neuron": CONVERTED_NEURON, "converted": CONVERTED_INIT,
                                      "seeds": args.seeds, "budgets": args.budgets, "T": args.T},
                "reference": methods_reference(args.dataset),
                "seeds": args.seeds, "threads": args.threads, "jobs": args.jobs, "seconds_note": SECONDS_NOTE,
                "invocation_seconds": round(time.perf_counter() - t_start, 1)})
            report.pop("benchmark_seconds", None)
            write_json(path, report)
            write_text(path.with_suffix(".md"), markdown_report(report))

    part_seconds = report.setdefault("part_seconds", {})  # wall seconds of each part's latest run (cached runs ~0)
    t_part = time.perf_counter()
    if "sweep" in args.parts:
        print("sweep", file=sys.stderr)
        report["rows"] = sweep(rec, teachers, args.sweep_T, args.timing_repeats, args.threads)
        part_seconds["sweep"], t_part = round(time.perf_counter() - t_part, 1), time.perf_counter()
        write()
    if "finetune" in args.parts:
        done: dict[tuple[int, int, str, str], dict[int, dict[str, Any]]] = {}

        def overrides(job) -> dict[str, Any]:
            return finetune_overrides(rec, teachers["relu"]["dir"], *job)

        # finished runs first (stable: seeds stay outermost): an invocation cut short still reports all of them
        jobs = sorted(finetune_jobs(args.seeds, args.T, args.budgets), key=lambda j: _cached_summary(
            config_from(rec.base_files, finetune_name(j), work, overrides(j))) is None)

        def one(job) -> None:
            name = finetune_name(job)
            budget, T, init, method, seed = job
            summary = {**run_in_process(rec.base_files, name, work, overrides(job)),
                       "first_val_acc": first_val_acc(work / name)}
            with lock:
                done.setdefault((budget, T, init, method), {})[seed] = summary
                report["finetune"] = finetune_section(done)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(one, j): j for j in jobs}
            for fut in as_completed(futures):
                fut.result()
                part_seconds["finetune"] = round(time.perf_counter() - t_part, 1)
                write()
        t_part = time.perf_counter()
    if "robustness" in args.parts:
        print("robustness", file=sys.stderr)
        report["robustness"] = robustness(rec, work, teachers, args.robustness_T, args.robustness_seeds,
                                          max(args.budgets), args.threads)
        part_seconds["robustness"] = round(time.perf_counter() - t_part, 1)
    write()
    render_docs(["mnist1d", "digits"])
    print(markdown_report(report))


if __name__ == "__main__":
    main()
