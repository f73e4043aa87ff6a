"""Throughput: neurokd SNN vs the same network written with snnTorch 1.0 (``snn.Leaky`` in a per-step loop).

Cases: ``cnn`` on digits-shaped input (1x8x8) and ``resnet19`` on random 3x32x32 input, T = 4 and 8, batch 32.
For each case: inference samples/s (no grad) and training-step samples/s (forward + backward + SGD step).
Both implementations run in this one process, measured in alternating rounds so machine noise hits both.
Writes ``benchmarks/results/throughput.json`` with ``ratio = neurokd / snnTorch`` per case and mode (both fp32,
like for like: the target), plus ``ratio_bf16``: neurokd with ``train.cpu_bf16`` (bfloat16 autocast, what
``--train.cpu_bf16 true`` does) over the same fp32 snnTorch net. One profiled call per implementation gives the
share of time spent in convolutions (``*_conv_share``) and ``ratio_conv_bound``: snnTorch's time over neurokd's
convolution time alone, the ratio neurokd would reach if everything besides its convolutions took no time (CPU
only; null on CUDA, where op time is asynchronous to the host). ``--device cuda`` times both on a GPU (synchronized
after every call; autocast there is bfloat16 too) and writes ``throughput_cuda.json``.

    python benchmarks/throughput.py [--quick] [--threads N] [--heap-reuse] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

import snntorch as snn
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.fold import inference_model

RESULTS = Path(__file__).parent / "results" / "throughput.json"
BETA, THRESHOLD = 0.5, 1.0


def neurokd_net(arch: str, input_shape: list[int], T: int) -> nn.Module:
    spec = ModelSpec(arch=arch, kind="snn", T=T, num_classes=10, input_shape=input_shape,
                     neuron=NeuronSpec(beta=BETA, threshold=THRESHOLD, reset="zero", surrogate="atan"))
    return build_model(spec)


def _leaky() -> snn.Leaky:
    return snn.Leaky(beta=BETA, threshold=THRESHOLD, reset_mechanism="zero")


class SnnTorchCNN(nn.Module):
    """neurokd's ``cnn`` (3 conv-BN-LIF stages, flatten, linear) in snnTorch's per-step style."""

    def __init__(self, T: int, cin: int = 1, hw: int = 8, width: int = 16, classes: int = 10):
        super().__init__()
        self.T = T
        chans, strides = [width, 2 * width, 4 * width], [1, 2, 2]
        self.convs, self.bns, self.lifs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c = cin
        for co, s in zip(chans, strides):
            self.convs.append(nn.Conv2d(c, co, 3, s, 1, bias=False))
            self.bns.append(nn.BatchNorm2d(co))
            self.lifs.append(_leaky())
            hw = (hw + 2 - 3) // s + 1
            c = co
        self.fc = nn.Linear(c * hw * hw, classes)

    def forward(self, x):
        mems = [lif.init_leaky() for lif in self.lifs]
        out = 0
        for _t in range(self.T):
            h = x
            for i, (conv, bn, lif) in enumerate(zip(self.convs, self.bns, self.lifs)):
                h, mems[i] = lif(bn(conv(h)), mems[i])
            out = out + self.fc(h.flatten(1))
        return out / self.T


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.lif1 = _leaky()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.lif2 = _leaky()

    def forward(self, x, m1, m2):
        h, m1 = self.lif1(self.bn1(self.conv1(x)), m1)
        h = self.bn2(self.conv2(h))
        s, m2 = self.lif2(h + (x if self.down is None else self.down(x)), m2)
        return s, m1, m2


class SnnTorchResNet19(nn.Module):
    """neurokd's ``resnet19`` (128/256/512 x [3, 3, 2] BasicBlocks, LIF after the add) in snnTorch style."""

    def __init__(self, T: int, classes: int = 10):
        super().__init__()
        self.T = T
        self.conv = nn.Conv2d(3, 128, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(128)
        self.lif = _leaky()
        blocks, c = [], 128
        for i, (co, n) in enumerate(zip([128, 256, 512], [3, 3, 2])):
            for j in range(n):
                blocks.append(_Block(c, co, 2 if (i > 0 and j == 0) else 1))
                c = co
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        m0 = self.lif.init_leaky()
        mems = [[b.lif1.init_leaky(), b.lif2.init_leaky()] for b in self.blocks]
        out = 0
        for _t in range(self.T):
            h, m0 = self.lif(self.bn(self.conv(x)), m0)
            for b, m in zip(self.blocks, mems):
                h, m[0], m[1] = b(h, m[0], m[1])
            out = out + self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
        return out / self.T


def _time_round(fn, min_seconds: float, device: torch.device) -> float:
    """Seconds per call, averaged over as many calls as fit in ``min_seconds`` (at least one)."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
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


def measure(case: dict, rounds: int, min_seconds: float, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    T, B, shape = case["T"], case["batch"], case["input_shape"]
    nets = {"neurokd": neurokd_net(case["arch"], shape, T),
            "snntorch": SnnTorchCNN(T) if case["arch"] == "cnn" else SnnTorchResNet19(T)}
    nets["neurokd_bf16"] = copy.deepcopy(nets["neurokd"])
    nets = {k: m.to(device) for k, m in nets.items()}
    x = torch.rand(B, *shape, device=device)
    y = torch.randint(0, 10, (B,), device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    for k in ("neurokd", "neurokd_bf16"):
        nets[k].to(memory_format=torch.channels_last)  # what `neurokd train` does for 2-D convs
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in nets.items()}
    inputs = {"neurokd": x_cl, "neurokd_bf16": x_cl, "snntorch": x}
    # inference path: neurokd's deployment form (BN folded into the convs, as `neurokd eval` and the exporters do)
    infer = {k: inference_model(nets[k]) for k in ("neurokd", "neurokd_bf16")}
    infer["snntorch"] = nets["snntorch"].eval()

    def forward(k):
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=k == "neurokd_bf16"):
            infer[k](inputs[k])

    def train_step(k):
        nets[k].train()
        opts[k].zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=k == "neurokd_bf16"):
            logits = nets[k](inputs[k])
        F.cross_entropy(logits.float(), y).backward()
        opts[k].step()

    out = []
    for mode, fn in [("forward", forward), ("train", train_step)]:
        for k in nets:  # warm-up (allocator, oneDNN primitive caches)
            fn(k)
            fn(k)
        times: dict[str, list[float]] = {k: [] for k in nets}
        for _ in range(rounds):
            for k in nets:
                times[k].append(_time_round(lambda k=k, fn=fn: fn(k), min_seconds, device))
        sps = {k: B / min(v) for k, v in times.items()}  # best round: least disturbed by other load
        share = ({k: conv_share(lambda k=k, fn=fn: fn(k)) for k in ("neurokd", "snntorch")} if device.type == "cpu"
                 else None)
        out.append({**{k: v for k, v in case.items() if k != "input_shape"}, "input_shape": shape, "mode": mode,
                    "neurokd_samples_per_s": round(sps["neurokd"], 2),
                    "snntorch_samples_per_s": round(sps["snntorch"], 2),
                    "neurokd_bf16_samples_per_s": round(sps["neurokd_bf16"], 2),
                    "ratio": round(sps["neurokd"] / sps["snntorch"], 3),
                    "ratio_bf16": round(sps["neurokd_bf16"] / sps["snntorch"], 3),
                    "neurokd_conv_share": share and round(share["neurokd"], 3),
                    "snntorch_conv_share": share and round(share["snntorch"], 3),
                    "ratio_conv_bound": share and round(sps["neurokd"] / sps["snntorch"] / share["neurokd"], 3)})
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round, short timing (smoke test)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--heap-reuse", action="store_true",
                    help="train.cpu_heap_reuse for the whole process (both libraries); default out: "
                         "throughput_heap_reuse.json")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default out for cuda: throughput_cuda.json)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    try:
        device = torch.device(args.device)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {args.device}: choose cpu or cuda[:N]")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: this torch build sees no CUDA device")
    if args.out is None:
        name = "throughput_cuda.json" if device.type == "cuda" else (
            "throughput_heap_reuse.json" if args.heap_reuse else RESULTS.name)
        args.out = RESULTS.with_name(name)
    if args.heap_reuse:
        from neurokd.train.cpu_heap import reuse_heap_memory

        if not reuse_heap_memory():
            raise SystemExit("--heap-reuse needs glibc's allocator (Linux)")
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, min_s = (1, 0.2) if args.quick else (3, 2.0)
    cases = [{"arch": a, "input_shape": s, "T": T, "batch": 32}
             for a, s in [("cnn", [1, 8, 8]), ("resnet19", [3, 32, 32])] for T in (4, 8)]
    results = [r for c in cases for r in measure(c, rounds, min_s, device)]
    report = {
        "benchmark": "throughput",
        "torch": torch.__version__, "snntorch": snn.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "rounds": rounds,
        "cpu_heap_reuse": args.heap_reuse, "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "results": results,
        "min_ratio": min(r["ratio"] for r in results),
        "min_ratio_bf16": min(r["ratio_bf16"] for r in results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from neurokd.io import write_json

    write_json(args.out, report)
    print(f"min ratio {report['min_ratio']:.2f} -> {args.out}")


if __name__ == "__main__":
    main()
