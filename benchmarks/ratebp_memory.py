"""Training memory and step time: BPTT vs rate-based backprop over T.

Cases: ``cnn1d`` (MNIST-1D shape 1x40, 10 classes) and ``resnet19`` (random 3x32x32, 10 classes), batch 32,
T in {2, 4, 8, 16, 32}, AdamW, cross-entropy on the time-mean logits; rate-BP with the default spike-pass chunk
(``neurokd.snn.ratebp.DEFAULT_CHUNK``). Each (arch, T, method) runs in a fresh Python process:
build the model and optimizer, take ``--warmup`` training steps, then ``--steps`` timed ones (each case records
its own counts: the committed resnet19 cases ran 1 + 1 on a shared 2-core CPU, see ``step_times``).

Memory, CPU: resident set size (Linux ``/proc/self/status``). ``peak_mb`` = peak RSS over the whole run minus
the RSS after model/optimizer/input construction, i.e. everything training adds (gradients, AdamW state,
activations, autograd graph, temporaries); ``step_peak_mb`` = peak RSS during the timed steps minus the RSS
before them (the per-step transient: graph and activations). The peak is reset with ``/proc/self/clear_refs``
(``5``) at each baseline, and glibc's mmap threshold is pinned (``MALLOC_MMAP_THRESHOLD_``) so freed large
tensors leave the RSS at once. CUDA: ``torch.cuda.max_memory_allocated`` over the same baselines.
Time: ``step_s`` = median seconds per timed step (forward + backward + optimizer step).

A BPTT case whose memory, extrapolated linearly in T from the measured smaller T of the same arch, would exceed
``--max-mb`` is not run (it would not fit this machine next to its other jobs); its entry holds the linear
extrapolation of ``peak_mb`` and ``step_s`` with ``"extrapolated": true`` (BPTT stores every step's tensors,
so both grow linearly in T).

``--alternate ARCH T BATCH`` times both methods in alternation in one process instead (load on a shared machine
then hits both alike; a smaller batch keeps BPTT at large T affordable), stored under ``"alternating"``.

Writes ``benchmarks/results/ratebp_memory.json`` (``{arch: {T: {"bptt": {...}, "rate": {...}}}, "meta": ...,
"targets": ...}``) and ``ratebp_memory.png``.

    python benchmarks/ratebp_memory.py [--archs cnn1d resnet19] [--T 2 4 8 16 32] [--steps 2] [--max-mb 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ratebp_memory.json"
SHAPES = {"cnn1d": [1, 40], "resnet19": [3, 32, 32]}
METHODS = ("bptt", "rate")


# ------------------------------------------------------------------------------------------ one case (child)

def _status_kb(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


class _Meter:
    """Peak memory since the last :meth:`reset`, in MB (RSS on CPU, allocated bytes on CUDA)."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.peak_resettable = True

    def current(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.memory_allocated() / 2**20
        return _status_kb("VmRSS") / 1024

    def reset(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            try:
                with open("/proc/self/clear_refs", "w") as fh:
                    fh.write("5")
            except OSError:
                self.peak_resettable = False
        return self.current()

    def peak(self) -> float:
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        return _status_kb("VmHWM") / 1024


def run_case(arch: str, T: int, method: str, batch: int, warmup: int, steps: int, device_name: str) -> dict:
    import torch
    import torch.nn.functional as F

    from neurokd.models import ModelSpec, build_model
    from neurokd.snn.ratebp import DEFAULT_CHUNK, rate_forward

    device = torch.device(device_name)
    torch.manual_seed(0)
    meter = _Meter(device)
    model = build_model(ModelSpec(arch=arch, T=T, num_classes=10, input_shape=SHAPES[arch])).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, *SHAPES[arch], device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        logits = rate_forward(model, x)[0] if method == "rate" else model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    base = meter.reset()
    for _ in range(warmup):
        step()
    sync()
    steady = meter.current()
    peak_warm = meter.peak()
    meter.reset()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    peak_steps = meter.peak()
    return {
        "peak_mb": round(max(peak_warm, peak_steps) - base, 1),
        "step_peak_mb": round(peak_steps - steady, 1),
        "step_s": round(statistics.median(times), 3),
        "step_times": [round(t, 3) for t in times],
        "warmup": warmup,
        "baseline_mb": round(base, 1),
        "chunk": DEFAULT_CHUNK if method == "rate" else None,
        "peak_resettable": meter.peak_resettable,
    }


def run_alternating(arch: str, T: int, batch: int, rounds: int) -> dict:
    """Seconds per training step of BPTT and rate-BP measured in alternation in one process (after one warm-up
    step each), so that load from other jobs on a shared machine hits both alike."""
    import torch
    import torch.nn.functional as F

    from neurokd.models import ModelSpec, build_model
    from neurokd.snn.ratebp import rate_forward

    torch.manual_seed(0)
    model = build_model(ModelSpec(arch=arch, T=T, num_classes=10, input_shape=SHAPES[arch])).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, *SHAPES[arch])
    y = torch.randint(0, 10, (batch,))
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    for r in range(rounds + 1):
        for method in METHODS:
            t0 = time.perf_counter()
            logits = rate_forward(model, x)[0] if method == "rate" else model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if r:  # round 0 is the warm-up
                times[method].append(round(time.perf_counter() - t0, 3))
    med = {m: statistics.median(v) for m, v in times.items()}
    return {"batch": batch, "bptt_s": med["bptt"], "rate_s": med["rate"],
            "rate_over_bptt": round(med["rate"] / med["bptt"], 3), "times": times}


# -------------------------------------------------------------------------------------------- driver (parent)

def _child(args, arch: str, T: int, method: str) -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(args.threads))
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"  # large tensors are mmapped and unmapped on free: RSS tracks live
    env["MALLOC_TRIM_THRESHOLD_"] = "0"
    cmd = [sys.executable, __file__, "--case", arch, str(T), method, "--batch", str(args.batch),
           "--warmup", str(args.warmup), "--steps", str(args.steps), "--device", args.device,
           "--threads", str(args.threads)]
    load0 = os.getloadavg()[0]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"case {arch} T={T} {method} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return out


def _linear_fit(points: list[tuple[int, float]], T: int) -> float:
    """Least-squares line through ``(T, value)`` points, evaluated at ``T``."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    slope = sum((t - mt) * (v - mv) for t, v in points) / var if var else 0.0
    return mv + slope * (T - mt)


def _targets(res: dict) -> dict:
    r = res.get("resnet19", {})
    out = {}
    try:
        out["rate_mem_T32_over_T4"] = round(r["32"]["rate"]["peak_mb"] / r["4"]["rate"]["peak_mb"], 3)
        out["rate_mem_T32_over_T4_target"] = 1.3
    except KeyError:
        pass
    try:
        out["rate_over_bptt_mem_T16"] = round(r["16"]["rate"]["peak_mb"] / r["16"]["bptt"]["peak_mb"], 3)
        out["rate_over_bptt_mem_T16_target"] = 0.35
        out["rate_over_bptt_time_T16"] = round(r["16"]["rate"]["step_s"] / r["16"]["bptt"]["step_s"], 3)
        out["rate_over_bptt_time_T16_target"] = 0.6
        out["bptt_T16_extrapolated"] = bool(r["16"]["bptt"].get("extrapolated", False))
    except KeyError:
        pass
    alt = res.get("alternating", {}).get("resnet19", {}).get("16")
    if alt:
        out["rate_over_bptt_time_T16_alternating"] = alt["rate_over_bptt"]
        out["alternating_batch"] = alt["batch"]
    return out


def _plot(res: dict, path: Path) -> None:
    from neurokd.plotting import new_figure, save_png

    archs = [a for a in res if a in SHAPES]
    fig = new_figure(figsize=(5 * len(archs), 7))
    axes = fig.subplots(2, len(archs), squeeze=False)
    for j, arch in enumerate(archs):
        Ts = sorted(int(t) for t in res[arch])
        for i, (key, label) in enumerate([("peak_mb", "peak training memory (MB)"), ("step_s", "s / training step")]):
            ax = axes[i][j]
            for method, color in (("bptt", "tab:red"), ("rate", "tab:blue")):
                pts = [(t, res[arch][str(t)][method]) for t in Ts if method in res[arch][str(t)]]
                meas = [(t, c[key]) for t, c in pts if not c.get("extrapolated")]
                extra = [(t, c[key]) for t, c in pts if c.get("extrapolated")]
                if meas:
                    ax.plot(*zip(*meas), "o-", color=color, label=method)
                if extra:
                    last = meas[-1:] if meas else []
                    ax.plot(*zip(*(last + extra)), "o--", color=color, mfc="none",
                            label=f"{method} (linear extrapolation)")
            ax.set_xscale("log", base=2)
            ax.set_xticks(Ts, [str(t) for t in Ts])
            ax.set_xlabel("time steps T")
            ax.set_ylabel(label)
            ax.set_title(f"{arch}, batch {res['meta']['batch']}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--T", nargs="+", type=int, default=[2, 4, 8, 16, 32])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-mb", type=float, default=8000.0,
                   help="skip (and extrapolate) BPTT cases predicted to need more memory than this")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--redo", action="store_true", help="re-measure cases already in --out (default: keep them)")
    p.add_argument("--case", nargs=3, metavar=("ARCH", "T", "METHOD"), help=argparse.SUPPRESS)
    p.add_argument("--alternate", nargs=3, metavar=("ARCH", "T", "BATCH"),
                   help="only time BPTT and rate-BP in alternation in one process (added under 'alternating')")
    p.add_argument("--rounds", type=int, default=2, help="--alternate: timed rounds after one warm-up round")
    args = p.parse_args()

    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        arch, T, method = args.case
        print(json.dumps(run_case(arch, int(T), method, args.batch, args.warmup, args.steps, args.device)))
        return

    if args.alternate:
        import torch

        torch.set_num_threads(args.threads)
        arch, T, batch = args.alternate
        res = json.loads(args.out.read_text()) if args.out.exists() else {}
        alt = run_alternating(arch, int(T), int(batch), args.rounds)
        alt["loadavg_end"] = round(os.getloadavg()[0], 2)
        res.setdefault("alternating", {}).setdefault(arch, {})[T] = alt
        res["targets"] = _targets(res)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
        print(json.dumps(alt))
        return

    res: dict = {}
    if args.out.exists():  # keep finished cases of an earlier, interrupted run with the same settings
        old = json.loads(args.out.read_text())
        same = {k: old.get("meta", {}).get(k) for k in ("batch", "device")}
        if same == {"batch": args.batch, "device": args.device}:  # each case records its own warm-up/steps
            res = {a: v for a, v in old.items() if a in SHAPES or a == "alternating"}
    res["meta"] = {
        "batch": args.batch, "device": args.device,
        "threads": args.threads, "max_mb": args.max_mb, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "memory": ("CUDA max_memory_allocated" if args.device.startswith("cuda") else
                   "CPU resident set size (/proc/self/status VmHWM, reset via /proc/self/clear_refs)") +
                  "; peak_mb over the RSS after model/optimizer/input construction, step_peak_mb over the "
                  "RSS after the warm-up steps",
        "optimizer": "AdamW", "loss": "cross-entropy on time-mean logits",
    }
    for arch in args.archs:
        res.setdefault(arch, {})
        for T in sorted(args.T):
            for method in METHODS:
                cell = res[arch].setdefault(str(T), {})
                if method in cell and not cell[method].get("extrapolated") and not args.redo:
                    continue
                if method == "bptt":
                    done = [(int(t), c["bptt"]) for t, c in res[arch].items()
                            if "bptt" in c and not c["bptt"].get("extrapolated")]
                    if len(done) >= 2:
                        pred = _linear_fit([(t, c["peak_mb"]) for t, c in done], T)
                        if pred > args.max_mb:
                            cell[method] = {
                                "peak_mb": round(pred, 1),
                                "step_s": round(_linear_fit([(t, c["step_s"]) for t, c in done], T), 3),
                                "extrapolated": True,
                                "reason": f"predicted {pred:.0f} MB > --max-mb {args.max_mb:.0f}",
                            }
                            print(f"{arch} T={T} {method}: extrapolated ({cell[method]['reason']})", flush=True)
                            continue
                t0 = time.time()
                cell[method] = _child(args, arch, T, method)
                print(f"{arch} T={T} {method}: {cell[method]['peak_mb']} MB, {cell[method]['step_s']} s/step "
                      f"({time.time() - t0:.0f} s)", flush=True)
                res["targets"] = _targets(res)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(res, indent=1) + "\n")
    res["targets"] = _targets(res)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    _plot(res, args.out.with_suffix(".png"))
    print(json.dumps(res["targets"], indent=1))


if __name__ == "__main__":
    main()
