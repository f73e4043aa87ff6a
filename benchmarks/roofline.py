"""How close to the machine's arithmetic limit a network runs: its convolution/linear FLOPs, and the measured peak.

FLOPs: ``2 x multiply-accumulates`` of every ``Conv1d/2d`` and ``Linear`` for one sample and one time step
(:func:`step_flops`, from the layer shapes on one sample); an SNN computes them at every step, so a sample costs
``T x`` that, and a training step ``3 x`` its forward (backward = input gradient + weight gradient; the first
layer's input gradient is not computed, so this over-counts by at most that layer's share). BatchNorm, neuron
updates and additions are not counted: next to the convolutions they are memory-bound, not arithmetic.

Peak: the best of a large matrix product and a large convolution (:func:`measure_peak`) in fp32 and in bf16, with
the threads and device the benchmark uses, timed after a warm-up (best of several timed calls, synchronized on
CUDA). A network's *share* is its achieved GFLOP/s over that peak.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

PEAK_SIZES = {"cpu": {"gemm": 2048, "conv": (32, 256, 28)}, "cuda": {"gemm": 8192, "conv": (128, 256, 56)}}


def step_flops(model: nn.Module, input_shape: list[int]) -> float:
    """Conv/linear FLOPs of ``model`` for one sample and one time step: run on ``[1, *input_shape]`` in eval
    mode (restored after), counting per output row (a time-folded SNN's T rows are T steps of the sample)."""
    total = 0.0

    def count(m: nn.Module, _inputs, out) -> None:
        nonlocal total
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            per_out = m.in_channels // m.groups
            for k in m.kernel_size:
                per_out *= k
            total += 2.0 * out.numel() / out.shape[0] * per_out
        elif isinstance(m, nn.Linear):
            total += 2.0 * m.in_features * m.out_features * out.numel() / out.shape[-1] / out.shape[0]

    layers = [m for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]
    hooks = [m.register_forward_hook(count) for m in layers]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def _best_seconds(fn: Callable[[], object], device: torch.device, calls: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(calls):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


def measure_peak(dtype: torch.dtype, device: torch.device, calls: int = 5, scale: float = 1.0) -> dict[str, float]:
    """GFLOP/s of a square matrix product and of a 3x3 convolution (channels-last on CPU) in ``dtype``, and
    ``peak`` = the better of the two. ``scale`` shrinks the problem sizes (smoke tests)."""
    sizes = PEAK_SIZES["cuda" if device.type == "cuda" else "cpu"]
    n = max(64, int(sizes["gemm"] * scale))
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    gemm = 2.0 * n**3 / _best_seconds(lambda: a @ b, device, calls) / 1e9
    batch, ch, hw = sizes["conv"]
    batch, hw = max(1, int(batch * scale)), max(8, int(hw * scale))
    conv = nn.Conv2d(ch, ch, 3, 1, 1, bias=False).to(device=device, dtype=dtype)
    x = torch.randn(batch, ch, hw, hw, device=device, dtype=dtype)
    if device.type == "cpu":
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        secs = _best_seconds(lambda: conv(x), device, calls)
    conv_gflops = 2.0 * batch * ch * hw * hw * ch * 9 / secs / 1e9
    return {"gemm": round(gemm, 1), "conv": round(conv_gflops, 1), "peak": round(max(gemm, conv_gflops), 1),
            "gemm_n": n, "conv_shape": [batch, ch, hw, hw]}


def share(gflops: float | None, peak: float) -> float | None:
    return None if gflops is None or not peak else round(gflops / peak, 4)
