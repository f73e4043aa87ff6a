"""One-shot GPU benchmark (``make bench-gpu``): throughput, rate-BP vs BPTT, and a short distillation on CUDA.

Sections, each written to its own file as soon as it is done (a later failure keeps the earlier results), each
recording the GPU's name:

1. ``throughput_cuda.json``: benchmarks/throughput.py's cases (cnn 1x8x8 and resnet19 3x32x32, T = 4 and 8,
   batch 32, inference and training) for neurokd, snnTorch and SpikingJelly in fp32 and under bfloat16 autocast
   (``*_bf16``), with GFLOP/s and shares of the fp32 / bf16 peak measured on the same GPU.
2. ``ratebp_memory_cuda.json``: resnet19 (3x32x32, batch 32, AdamW) under BPTT and rate-BP at T = 4, 8, 16:
   ``torch.cuda.max_memory_allocated`` over the post-construction baseline and median seconds per step
   (benchmarks/ratebp_memory.py's ``run_case``).
3. ``distill_cuda.json``: a short distillation on digits: a ``cnn`` ANN teacher, then a blockwise rate-BP SNN
   student at T = 4, with accuracy, wall time and peak memory of each run.

A peer library or section that fails is recorded with its error and the script goes on. Every timing is
synchronized and follows a warm-up. It takes about 5 minutes on one H100 (less than 8).

Without a CUDA device it prints one line and exits with code 2 (nothing was measured, so ``make`` stops there);
CPU CI never runs it. ``--device cpu --smoke`` runs every section on the CPU at toy sizes, to check the script.

    python benchmarks/gpu.py [--out-dir benchmarks/results] [--sections throughput ratebp distill]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SECTIONS = ("throughput", "ratebp", "distill")


def no_gpu_reason(device: str) -> str | None:
    """Why ``device`` cannot run (one line), or None. Imports torch, nothing else."""
    import torch

    if device == "cpu":
        return None
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        return (f"benchmarks/gpu.py: no CUDA device: torch {torch.__version__} ({build}) sees none; run it on a "
                "GPU machine with a CUDA build of torch (docs/benchmarks.md)")
    return None


def _meta(device) -> dict:
    import torch

    cuda = device.type == "cuda"
    return {
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32 if cuda else None,
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32 if cuda else None,
        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def run_throughput(device, smoke: bool) -> dict:
    import throughput

    cases = throughput.default_cases(batch=4 if smoke else 32, smoke=smoke)
    rounds, min_s = (1, 0.05) if smoke else (2, 1.0)
    report = throughput.run(device, cases, rounds, min_s, peak_scale=0.125 if smoke else 1.0, bf16_peers=True)
    report["benchmark"] = "throughput_cuda"
    return report


def run_ratebp(device, smoke: bool) -> dict:
    import ratebp_memory

    Ts, batch, steps = ((2, 4), 2, 1) if smoke else ((4, 8, 16), 32, 3)
    arch = "resnet19"
    res: dict = {arch: {}}
    for T in Ts:
        for method in ratebp_memory.METHODS:
            case = ratebp_memory.run_case(arch, T, method, batch, warmup=1, steps=steps, device_name=str(device))
            res[arch].setdefault(str(T), {})[method] = case
            print(f"  {arch} T={T} {method}: {case['peak_mb']} MB, {case['step_s']} s/step", flush=True)
        cell = res[arch][str(T)]
        cell["rate_over_bptt_mem"] = round(cell["rate"]["peak_mb"] / max(cell["bptt"]["peak_mb"], 1e-9), 3)
        cell["rate_over_bptt_time"] = round(cell["rate"]["step_s"] / max(cell["bptt"]["step_s"], 1e-9), 3)
    res["meta"] = {"batch": batch, "input_shape": ratebp_memory.SHAPES[arch], "optimizer": "AdamW",
                   "warmup": 1, "steps": steps,
                   "memory": "torch.cuda.max_memory_allocated over the post-construction baseline"
                   if device.type == "cuda" else "CPU resident set size"}
    return res


def run_distill(device, smoke: bool) -> dict:
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.distill import distill
    from neurokd.train import run_training

    epochs = 1 if smoke else 10
    keep = ("test_acc", "train_seconds", "peak_mem_mb", "epochs", "params")
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="neurokd-gpu-") as tmp:
        common = {"out_dir": tmp, "train.progress": False, "train.device": str(device), "data.name": "digits",
                  "model.arch": "cnn", "model.width": 32, "optim.epochs": epochs, "seed": 0}
        teacher = build_config(RunConfig, [], {**common, "name": "teacher", "model.kind": "ann"})
        t0 = time.perf_counter()
        result = run_training(teacher)
        out["teacher"] = {**{k: result.summary.get(k) for k in keep}, "wall_s": round(time.perf_counter() - t0, 2)}
        student = build_config(RunConfig, [], {
            **common, "name": "student", "model.kind": "snn", "model.T": 4, "distill.method": "blockwise",
            "distill.teacher": str(result.run_dir), "train.backprop": "rate"})
        t0 = time.perf_counter()
        result = distill(student)
        out["student_blockwise_rate"] = {**{k: result.summary.get(k) for k in keep},
                                         "teacher_test_acc": result.summary.get("teacher_test_acc"),
                                         "wall_s": round(time.perf_counter() - t0, 2)}
    out["meta"] = {"dataset": "digits", "arch": "cnn", "width": 32, "T": 4, "epochs": epochs,
                   "method": "blockwise", "backprop": "rate"}
    return out


RUNNERS = {"throughput": (run_throughput, "throughput_cuda.json"),
           "ratebp": (run_ratebp, "ratebp_memory_cuda.json"),
           "distill": (run_distill, "distill_cuda.json")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda[:N] (default), or cpu to check the script itself")
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    ap.add_argument("--smoke", action="store_true", help="toy sizes (seconds); output to the temp folder")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    reason = no_gpu_reason(args.device)
    if reason:
        print(reason, file=sys.stderr)
        return 2
    import torch

    from neurokd.io import write_json

    device = torch.device(args.device)
    out_dir = args.out_dir or (Path(tempfile.gettempdir()) / "neurokd-gpu-smoke" if args.smoke else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in args.sections:
        fn, filename = RUNNERS[name]
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            report = fn(device, args.smoke)
        except Exception as e:  # one section's failure must not cost the others' results
            traceback.print_exc()
            report = {"error": f"{type(e).__name__}: {e}"[:2000]}
            failed.append(name)
        report.setdefault("meta", {}).update(_meta(device), section_seconds=round(time.perf_counter() - t0, 1))
        report["gpu"] = report["meta"]["gpu"]
        write_json(out_dir / filename, report)
        print(f"   -> {out_dir / filename} ({report['meta']['section_seconds']} s)", flush=True)
    if failed:
        print(f"benchmarks/gpu.py: sections failed: {', '.join(failed)} (errors in their JSON files)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
