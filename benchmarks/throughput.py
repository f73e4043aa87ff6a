"""Throughput: neurokd's SNN vs the same network in snnTorch 1.0 and SpikingJelly 2.0 (benchmarks/peers.py).

Cases: ``cnn`` on digits-shaped input (1x8x8) and ``resnet19`` on random 3x32x32 input, T = 4 and 8, batch 32.
For each case: inference samples/s (no grad) and training-step samples/s (forward + backward + SGD step).
Every implementation runs in this one process, measured in alternating rounds so machine noise hits all alike;
the best round counts. neurokd runs as shipped: time chunks sized automatically (``time_chunk`` None; the chunks
used are recorded), channels-last, inference on the BN-folded deployment form.

Writes ``benchmarks/results/throughput.json``; per case and mode:

- ``ratio`` = neurokd / snnTorch (both fp32, like for like: the target), ``ratio_spikingjelly`` = neurokd /
  SpikingJelly (fp32), ``ratio_bf16`` = neurokd with ``train.cpu_bf16`` (bfloat16 autocast) over fp32 snnTorch;
- ``gflop_per_sample`` (conv + linear FLOPs, T steps; training 3x forward: benchmarks/roofline.py),
  ``gflops`` (achieved GFLOP/s per implementation) and ``peak_share_fp32`` / ``peak_share_bf16``: achieved over
  this machine's measured fp32 / bf16 peak (``peak_gflops``: the better of a large GEMM and a large convolution,
  measured in the same run), so "near the limit" is a number;
- with ``--bf16-peers``: snnTorch and SpikingJelly under bfloat16 autocast too (``<peer>_bf16_samples_per_s``,
  ``ratio_bf16_vs_<peer>_bf16``);
- CPU only: one profiled call per implementation gives the share of time in convolutions (``*_conv_share``)
  and ``ratio_conv_bound`` = snnTorch's time over neurokd's convolution time alone.

A peer library that is missing or fails is recorded under ``peers_unavailable`` with the reason; its fields
are null. ``--device cuda`` times on a GPU (synchronized after every call) and writes ``throughput_cuda.json``.

    python benchmarks/throughput.py [--quick | --smoke] [--threads N] [--heap-reuse] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path

import peers
import roofline
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.fold import inference_model
from neurokd.snn import chunked

RESULTS = Path(__file__).parent / "results" / "throughput.json"
CORE = ("neurokd", "neurokd_bf16", *peers.PEERS)  # always in a row's dicts (null when a peer is missing)
IMPLS = (*CORE, *(f"{p}_bf16" for p in peers.PEERS))


def neurokd_spec(arch: str, input_shape: list[int], T: int, kind: str = "snn") -> ModelSpec:
    return ModelSpec(arch=arch, kind=kind, T=T, num_classes=10, input_shape=input_shape,
                     neuron=NeuronSpec(beta=peers.BETA, threshold=peers.THRESHOLD, reset="zero", surrogate="atan"))


def neurokd_net(arch: str, input_shape: list[int], T: int) -> nn.Module:
    return build_model(neurokd_spec(arch, input_shape, T))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_round(fn, min_seconds: float, device: torch.device) -> float:
    """Seconds per call, averaged over as many calls as fit in ``min_seconds`` (at least one)."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        _sync(device)
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return dt / n


def conv_share(fn) -> float:
    """Share of one call's CPU time spent in convolution kernels (forward and backward), from torch's profiler."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key)
    return conv / total if total else 0.0


def build_nets(case: dict, device: torch.device,
               bf16_peers: bool = False) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """The implementations of one case with equal weights (neurokd's initialisation copied into the peers; with
    ``bf16_peers`` also each peer under bfloat16 autocast, ``<peer>_bf16``), and the reasons of those that could
    not be built."""
    torch.manual_seed(0)
    T, shape = case["T"], case["input_shape"]
    nets: dict[str, nn.Module] = {"neurokd": neurokd_net(case["arch"], shape, T)}
    nets["neurokd_bf16"] = copy.deepcopy(nets["neurokd"])
    missing = {}
    for peer in peers.PEERS:
        net, reason = peers.build(peer, case["arch"], T, shape)
        if net is None:
            missing[peer] = reason
            continue
        peers.copy_weights(nets["neurokd"], net)
        nets[peer] = net
        if bf16_peers:
            nets[f"{peer}_bf16"] = copy.deepcopy(net)
    nets = {k: m.to(device) for k, m in nets.items()}
    if device.type == "cpu" or case["arch"] != "cnn":
        for k in ("neurokd", "neurokd_bf16"):
            nets[k].to(memory_format=torch.channels_last)  # what `neurokd train` does for 2-D convs
    return nets, missing


def _chunks(model: nn.Module, case: dict) -> list[int] | None:
    """The time chunks neurokd runs this case in (None: all T steps folded at once)."""
    p = chunked.plan(model, case["T"], case["batch"], tuple(case["input_shape"]), model.time_chunk)
    return list(p.sizes) if p else None


def measure(case: dict, rounds: int, min_seconds: float, device: torch.device, peaks: dict,
            bf16_peers: bool = False) -> list[dict]:
    T, B, shape = case["T"], case["batch"], case["input_shape"]
    nets, missing = build_nets(case, device, bf16_peers)
    x = torch.rand(B, *shape, device=device)
    y = torch.randint(0, 10, (B,), device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in nets.items()}
    inputs = {k: (x_cl if k.startswith("neurokd") else x) for k in nets}
    # inference path: neurokd's deployment form (BN folded into the convs, as `neurokd eval` and the exporters do)
    infer = {k: inference_model(nets[k]) if k.startswith("neurokd") else nets[k].eval() for k in nets}
    flops = roofline.step_flops(build_model(neurokd_spec(case["arch"], shape, T, kind="ann")), shape) * T

    def forward(k):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=k.endswith("_bf16")):
            infer[k](inputs[k])

    def train_step(k):
        nets[k].train()
        opts[k].zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=k.endswith("_bf16")):
            logits = nets[k](inputs[k])
        F.cross_entropy(logits.float(), y).backward()
        opts[k].step()

    out = []
    for mode, fn, model in [("forward", forward, infer["neurokd"]), ("train", train_step, nets["neurokd"])]:
        model.train(mode == "train")
        chunks = _chunks(model, case)
        for k in nets:  # warm-up (allocator, oneDNN primitive caches, the chunk plan's trace)
            fn(k)
            fn(k)
        times: dict[str, list[float]] = {k: [] for k in nets}
        for _ in range(rounds):
            for k in nets:
                times[k].append(_time_round(lambda k=k, fn=fn: fn(k), min_seconds, device))
        sps = {k: B / min(v) for k, v in times.items()}  # best round: least disturbed by other load
        share = ({k: conv_share(lambda k=k, fn=fn: fn(k)) for k in ("neurokd", "snntorch") if k in nets}
                 if device.type == "cpu" else None)
        out.append(_result(case, mode, sps, share, flops * (3 if mode == "train" else 1), peaks, chunks, missing))
        print(json.dumps(out[-1]), flush=True)
    return out


def _ratio(sps: dict, a: str, b: str) -> float | None:
    return round(sps[a] / sps[b], 3) if a in sps and b in sps else None


def _result(case, mode, sps, share, flop_per_sample, peaks, chunks, missing) -> dict:
    gflops = {k: round(sps[k] * flop_per_sample / 1e9, 2) if k in sps else None
              for k in IMPLS if k in CORE or k in sps}
    sj = "spikingjelly"
    return {
        **{k: v for k, v in case.items() if k != "input_shape"}, "input_shape": case["input_shape"], "mode": mode,
        "neurokd_samples_per_s": round(sps["neurokd"], 2),
        "snntorch_samples_per_s": round(sps["snntorch"], 2) if "snntorch" in sps else None,
        "neurokd_bf16_samples_per_s": round(sps["neurokd_bf16"], 2),
        "spikingjelly_samples_per_s": round(sps[sj], 2) if sj in sps else None,
        "ratio": _ratio(sps, "neurokd", "snntorch"),
        "ratio_bf16": _ratio(sps, "neurokd_bf16", "snntorch"),
        "ratio_spikingjelly": _ratio(sps, "neurokd", sj),
        "ratio_bf16_spikingjelly": _ratio(sps, "neurokd_bf16", sj),
        **{f"{p}_bf16_samples_per_s": round(sps[f"{p}_bf16"], 2) for p in peers.PEERS if f"{p}_bf16" in sps},
        **{f"ratio_bf16_vs_{p}_bf16": _ratio(sps, "neurokd_bf16", f"{p}_bf16")
           for p in peers.PEERS if f"{p}_bf16" in sps},
        "neurokd_conv_share": share and round(share["neurokd"], 3),
        "snntorch_conv_share": share and share.get("snntorch") and round(share["snntorch"], 3),
        "ratio_conv_bound": (share and "snntorch" in sps
                             and round(sps["neurokd"] / sps["snntorch"] / share["neurokd"], 3)) or None,
        "neurokd_time_chunks": chunks,
        "gflop_per_sample": round(flop_per_sample / 1e9, 4),
        "gflops": gflops,
        "peak_share_fp32": {k: roofline.share(g, peaks["fp32"]["peak"]) for k, g in gflops.items()},
        "peak_share_bf16": {k: roofline.share(g, peaks["bf16"]["peak"]) for k, g in gflops.items()},
        "unavailable": missing or None,
    }


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: choose cpu or cuda[:N]")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: this torch build ({torch.__version__}) sees no CUDA device")
    return device


def run(device: torch.device, cases: list[dict], rounds: int, min_s: float, peak_scale: float = 1.0,
        heap_reuse: bool = False, bf16_peers: bool = False) -> dict:
    """Measure the peaks, then every case; the report as written to the JSON file."""
    peaks = {name: roofline.measure_peak(dt, device, scale=peak_scale)
             for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(json.dumps({"peak_gflops": peaks}), flush=True)
    results = [r for c in cases for r in measure(c, rounds, min_s, device, peaks, bf16_peers)]

    def lowest(key):
        vals = [r[key] for r in results if r[key] is not None]
        return min(vals) if vals else None

    return {
        "benchmark": "throughput",
        "torch": torch.__version__, "snntorch": peers.version("snntorch"),
        "spikingjelly": peers.version("spikingjelly"), "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "rounds": rounds,
        "cpu_heap_reuse": heap_reuse, "bf16_peers": bf16_peers, "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "peak_gflops": peaks,
        "peers_unavailable": {k: v for r in results for k, v in (r["unavailable"] or {}).items()} or None,
        "results": results,
        "min_ratio": lowest("ratio"),
        "min_ratio_bf16": lowest("ratio_bf16"),
        "min_ratio_spikingjelly": lowest("ratio_spikingjelly"),
    }


def default_cases(batch: int = 32, smoke: bool = False) -> list[dict]:
    if smoke:  # every code path at toy sizes: seconds, not minutes
        return [{"arch": "cnn", "input_shape": [1, 8, 8], "T": 4, "batch": batch},
                {"arch": "resnet19", "input_shape": [3, 8, 8], "T": 2, "batch": batch}]
    return [{"arch": a, "input_shape": s, "T": T, "batch": batch}
            for a, s in [("cnn", [1, 8, 8]), ("resnet19", [3, 32, 32])] for T in (4, 8)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round, short timing (full-size cases)")
    ap.add_argument("--smoke", action="store_true",
                    help="toy sizes, 1 short round, small peak problems; writes to the temp folder by default")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--heap-reuse", action="store_true",
                    help="train.cpu_heap_reuse for the whole process (every library); default out: "
                         "throughput_heap_reuse.json")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default out for cuda: throughput_cuda.json)")
    ap.add_argument("--bf16-peers", action="store_true",
                    help="also time snnTorch and SpikingJelly under bfloat16 autocast (<peer>_bf16)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = _device(args.device)
    if args.out is None:
        name = "throughput_cuda.json" if device.type == "cuda" else (
            "throughput_heap_reuse.json" if args.heap_reuse else RESULTS.name)
        args.out = Path(tempfile.gettempdir()) / f"smoke_{name}" if args.smoke else RESULTS.with_name(name)
    if args.heap_reuse:
        from neurokd.train.cpu_heap import reuse_heap_memory

        if not reuse_heap_memory():
            raise SystemExit("--heap-reuse needs glibc's allocator (Linux)")
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, min_s = (1, 0.05) if args.smoke else (1, 0.2) if args.quick else (3, 2.0)
    cases = default_cases(batch=4 if args.smoke else 32, smoke=args.smoke)
    report = run(device, cases, rounds, min_s, peak_scale=0.125 if args.smoke else 1.0, heap_reuse=args.heap_reuse,
                 bf16_peers=args.bf16_peers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from neurokd.io import write_json

    write_json(args.out, report)
    print(f"min ratio vs snnTorch {report['min_ratio']}, vs SpikingJelly {report['min_ratio_spikingjelly']} "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
