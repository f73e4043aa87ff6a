"""Counting overhead: ``neurokd.hardware.count`` vs plain inference of the same SNN on the digits test set.

The SNN is the demo's student (``cnn`` width 32, T = 4, direct encoding), trained briefly on digits (or loaded
with ``--run``), BatchNorm folded. Both sides run in this one process on the same loader (360 test images, eval
batch 256), in alternating rounds so machine load hits both; the medians give
``overhead = count_s / inference_s - 1`` (target: < 0.30). Writes ``benchmarks/results/counting_overhead.json``.

    python benchmarks/counting_overhead.py [--quick] [--threads N] [--run RUN]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from neurokd import load_model
from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.data import load_dataset, make_loaders
from neurokd.eval import evaluate
from neurokd.hardware.counting import count
from neurokd.models.fold import inference_model
from neurokd.train import run_training

RESULTS = Path(__file__).parent / "results" / "counting_overhead.json"
TARGET = 0.30


def student(run: str | None, epochs: int) -> torch.nn.Module:
    if run:
        return load_model(run)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config(RunConfig, overrides={
            "name": "snn", "out_dir": tmp, "model.arch": "cnn", "model.width": 32, "model.T": 4,
            "optim.epochs": epochs, "optim.lr": 3e-3, "train.progress": False})
        return run_training(cfg).model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds, 1 training epoch (smoke test)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--run", default=None, help="an SNN run folder to use instead of training one")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rounds, epochs = (3, 1) if args.quick else (15, 5)
    model = inference_model(student(args.run, epochs)).eval()
    cfg = build_config(RunConfig).data
    loader = make_loaders(load_dataset(cfg), cfg, 0)[2]
    base = evaluate(model, loader)
    counts = count(model, loader)
    assert counts.accuracy == base["acc"], "counting must not change the model's predictions"
    t_inf, t_cnt = [], []
    for _ in range(rounds):  # alternate, so that load changes hit both sides
        t0 = time.perf_counter()
        evaluate(model, loader)
        t1 = time.perf_counter()
        count(model, loader)
        t2 = time.perf_counter()
        t_inf.append(t1 - t0)
        t_cnt.append(t2 - t1)
    inf_s, cnt_s = statistics.median(t_inf), statistics.median(t_cnt)
    overhead = cnt_s / inf_s - 1
    report = {
        "benchmark": "counting_overhead",
        "case": {"arch": "cnn", "width": 32, "T": model.T, "dataset": "digits", "split": "test",
                 "samples": counts.samples, "batch": loader.batch_size, "trained_epochs": None if args.run else epochs},
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "rounds": rounds,
        "inference_s_median": inf_s, "count_s_median": cnt_s,
        "inference_s": t_inf, "count_s": t_cnt,
        "overhead": overhead, "target": TARGET, "met": overhead < TARGET,
        "accuracy": base["acc"], "synops_per_sample": counts.synops, "firing_rate": counts.firing_rate,
    }
    from neurokd.io import write_json

    write_json(args.out, report)
    print(f"counting overhead {overhead:+.1%} (inference {inf_s * 1e3:.1f} ms, counting {cnt_s * 1e3:.1f} ms, "
          f"target < {TARGET:.0%}) -> {args.out}")


if __name__ == "__main__":
    main()
