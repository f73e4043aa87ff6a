"""Contention: wall time of `neurokd demo` and of a training run alone and beside one and two CPU-bound processes.

Competitor (``--competitor``): ``numpy`` (default) is a loop of 512x512 float32 matrix products on one BLAS
thread: one core kept busy with floating-point work and a cache-sized working set, like another user's training
job. ``python`` is a bare busy loop, which leaves the FP units and caches alone and so understates contention.
The competitors start (and report ready) before the measured run and are stopped after it.

Workloads, each a fresh ``python -m neurokd`` process (so the command's own thread policy applies, see
docs/training.md), with OMP_*/GOMP_*/KMP_*/MKL_NUM_THREADS removed from its environment:

- ``demo``: ``neurokd demo --no-progress`` (digits: teacher, three students, NIR, Lava, hardware report);
- ``train``: ``neurokd train`` of a ``resnet1d`` SNN (T = 4) on MNIST-1D for ``--train-epochs`` epochs (an
  untimed one-epoch run first generates and caches the dataset).

Policies (``--policies``, default ``neurokd spin``): ``neurokd`` (the default: OpenMP threads sleep while they
wait), ``spin`` (``GOMP_SPINCOUNT=300000``, libgomp's own default, i.e. what neurokd ran with before the policy)
and ``spin10k`` (``GOMP_SPINCOUNT=10000``: a short spin, a middle ground to compare when the idle time matters).

Writes ``benchmarks/results/contention.json``: ``{"demo": {"idle_s", "slowdown_1", "slowdown_2", "wall_s",
"cpu_s"}, "train": {...}, "baseline_spin": {"demo": {...}, "train": {...}}, "policy_spin10k": ..., "target": ...,
"meta": ...}``;
``slowdown_k`` = wall time beside k competitors / idle wall time, ``cpu_s`` = the workload's CPU seconds (user +
system; spinning shows up here).

    python benchmarks/contention.py [--workloads demo train] [--competitor numpy|python] [--policies ...] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "contention.json"
COMPETITORS = {
    "numpy": ("import numpy as np\n"
              "a = np.random.rand(512, 512).astype(np.float32)\n"
              "b = np.random.rand(512, 512).astype(np.float32)\n"
              "print('ready', flush=True)\n"
              "while True:\n"
              "    a @ b\n"),
    "python": "print('ready', flush=True)\nwhile True:\n    pass\n",
}
# settings the workload must not inherit from the shell that runs the benchmark (the policy under test sets them)
OWN_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
POLICIES = {"neurokd": {}, "spin": {"GOMP_SPINCOUNT": "300000"}, "spin10k": {"GOMP_SPINCOUNT": "10000"}}
TARGET_DEMO_SLOWDOWN_1 = 2.5


def start_competitors(n: int, kind: str) -> list[subprocess.Popen]:
    """``n`` busy processes on one thread each, returned once every one has started its loop."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", COMPETITORS[kind]], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            stop(procs)
            raise RuntimeError(f"competitor ({kind}) did not start")
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of one run of ``cmd``; its output is discarded unless it fails. CPU time
    comes from RUSAGE_CHILDREN, which grows by a child's usage when it is reaped: running competitors are not in it."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return wall, _children_cpu() - cpu0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmd: list[str], policy: dict[str, str], competitors: tuple[int, ...], kind: str) -> dict:
    """Wall and CPU seconds of ``cmd`` beside each number of competitors, and the slowdowns over idle."""
    env = {k: v for k, v in os.environ.items() if k not in OWN_SETTINGS}
    env.update(policy)
    wall, cpu = {}, {}
    for n in competitors:
        procs = start_competitors(n, kind)
        try:
            wall[n], cpu[n] = timed(cmd, env)
        finally:
            stop(procs)
        print(f"  {n} competitor(s): {wall[n]:.1f} s wall, {cpu[n]:.1f} s CPU", flush=True)
    idle = wall[0]
    out = {"idle_s": round(idle, 2)}
    out.update({f"slowdown_{n}": round(wall[n] / idle, 3) for n in competitors if n})
    out["wall_s"] = {str(n): round(w, 2) for n, w in wall.items()}
    out["cpu_s"] = {str(n): round(c, 2) for n, c in cpu.items()}
    return out


def workloads(tmp: Path, epochs: int, smoke: bool) -> dict[str, list[str]]:
    neurokd = [sys.executable, "-m", "neurokd"]
    data = (["--data.name", "digits", "--model.arch", "cnn"] if smoke
            else ["--data.name", "mnist1d", "--model.arch", "resnet1d"])
    train = [*neurokd, "train", *data, "--model.T", "4", "--optim.epochs", str(epochs), "--out-dir", str(tmp),
             "--name", "contention", "--overwrite", "--no-progress"]
    return {"demo": [*neurokd, "demo", "--out", str(tmp / "demo"), "--no-progress"], "train": train}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["demo", "train"], choices=["demo", "train"])
    ap.add_argument("--competitor", default="numpy", choices=sorted(COMPETITORS))
    ap.add_argument("--train-epochs", type=int, default=6)
    ap.add_argument("--policies", nargs="+", default=["neurokd", "spin"], choices=list(POLICIES),
                    help="thread policies to measure (neurokd's default is always measured first)")
    ap.add_argument("--smoke", action="store_true",
                    help="the train workload only, 1 epoch of a digits cnn, no baseline; temp folder output")
    ap.add_argument("--competitors", type=int, nargs="+", default=[1, 2], choices=[1, 2],
                    help="busy processes beside the workload (idle is always measured)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.smoke:
        args.workloads, args.train_epochs, args.policies = ["train"], 1, ["neurokd"]
    out_path = args.out or (Path(tempfile.gettempdir()) / "smoke_contention.json" if args.smoke else RESULTS)
    competitors = tuple(sorted({0, *args.competitors}))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still stops its competitors (finally)
    tmp = Path(tempfile.mkdtemp(prefix="neurokd-contention-"))
    report: dict = {}
    try:
        cmds = workloads(tmp, args.train_epochs, args.smoke)
        if "train" in args.workloads:  # generate and cache the dataset, untimed
            subprocess.run(workloads(tmp, 1, args.smoke)["train"], check=True, stdout=subprocess.DEVNULL)
        policies = ["neurokd", *(p for p in args.policies if p != "neurokd")]
        for policy in policies:
            key = {"neurokd": None, "spin": "baseline_spin"}.get(policy, f"policy_{policy}")
            section = report if key is None else report.setdefault(key, {})
            for name in args.workloads:
                print(f"{name}, policy {policy}:", flush=True)
                section[name] = measure(cmds[name], POLICIES[policy], competitors, args.competitor)
                write_report(report, args, out_path)  # after each: an interrupted run keeps what it measured
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"-> {out_path}")


def write_report(report: dict, args: argparse.Namespace, out_path: Path) -> None:
    report = dict(report)
    s1 = report.get("demo", {}).get("slowdown_1")
    if s1 is not None:
        report["target"] = {"demo_slowdown_1_max": TARGET_DEMO_SLOWDOWN_1,
                            "demo_slowdown_1_met": s1 <= TARGET_DEMO_SLOWDOWN_1}
    report["meta"] = {
        "competitor": args.competitor, "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
        "python": platform.python_version(), "machine": platform.processor() or platform.machine(),
        "policies": {"neurokd": "neurokd's default (OMP_WAIT_POLICY=PASSIVE unless set; threads capped at the "
                                "CPUs this process may use)", **{k: v for k, v in POLICIES.items() if v}},
        "commands": {k: " ".join(Path(a).name if a == sys.executable else a for a in v)
                     for k, v in workloads(Path("TMP"), args.train_epochs, args.smoke).items()
                     if k in args.workloads},
        "train_epochs": args.train_epochs,
    }
    from neurokd.io import write_json

    write_json(out_path, report)


if __name__ == "__main__":
    main()
