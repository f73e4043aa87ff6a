"""How close is the rate-BP gradient to the BPTT gradient? Cosine similarity per layer, T = 1..16.

Network: the zoo ``cnn`` on scikit-learn digits (1x8x8, width 16: three conv-BN-LIF stages and a linear head),
seed 0, training mode (BatchNorm with batch statistics). For each neuron reset mode (``zero``, ``subtract``),
network state (``init``: freshly initialised; ``trained``: after 3 epochs of BPTT training at T = 4) and T, the
cross-entropy gradient of every parameter tensor is computed once with BPTT and once with rate-BP on the same
batches (4 batches of 128 training images), and the cosine similarity between the two is averaged over the
batches. Rate-BP runs with the default spike-pass chunk (``DEFAULT_CHUNK`` = 4 steps: for T > 4 BatchNorm then
normalises per chunk, so the forward differs slightly from BPTT's) and, for T > 4, also with ``chunk = T`` (the
exact BPTT forward), which isolates the error of the gradient approximation itself.

Writes ``benchmarks/results/ratebp_gradients.json``.

    python benchmarks/ratebp_gradients.py [--T 1 2 3 4 6 8 12 16] [--batches 4]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from neurokd.data import digits
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.snn.ratebp import DEFAULT_CHUNK, gradient_cosines

RESULTS = Path(__file__).parent / "results" / "ratebp_gradients.json"


def _short(name: str) -> str:
    """``stage2.1.weight`` -> ``stage2 bn.w``; ``stage2.0.weight`` -> ``stage2 conv.w``; ``head.1.bias`` -> ``head b``."""
    parts = name.split(".")
    kind = {"weight": "w", "bias": "b"}[parts[-1]]
    if parts[0] == "head":
        return f"head {kind}"
    layer = {"0": "conv", "1": "bn"}[parts[1]]
    return f"{parts[0]} {layer}.{kind}"


def _train(model, x, y, epochs: int = 3, batch: int = 64, lr: float = 3e-3) -> None:
    """A few epochs of plain BPTT training (fixed order, seeded)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def study(Ts: list[int], n_batches: int, batch: int = 128) -> dict:
    data = digits.load()
    x_all, y_all = data.train.x, data.train.y
    batches = [(x_all[i * batch:(i + 1) * batch], y_all[i * batch:(i + 1) * batch]) for i in range(n_batches)]
    out: dict = {}
    for reset in ("zero", "subtract"):
        for state in ("init", "trained"):
            torch.manual_seed(0)
            spec = ModelSpec(arch="cnn", T=4, num_classes=10, input_shape=[1, 8, 8], neuron=NeuronSpec(reset=reset))
            model = build_model(spec).train()
            if state == "trained":
                _train(model, x_all, y_all)
            rows: dict = {}
            for T in Ts:
                model.set_T(T)
                for chunk in sorted({DEFAULT_CHUNK, T} if T > DEFAULT_CHUNK else {DEFAULT_CHUNK}):
                    sums: dict[str, float] = {}
                    for xb, yb in batches:
                        for k, v in gradient_cosines(model, xb, yb, chunk=chunk).items():
                            sums[_short(k)] = sums.get(_short(k), 0.0) + v / len(batches)
                    key = str(T) if chunk == DEFAULT_CHUNK else f"{T} (chunk {T})"
                    rows[key] = {k: round(v, 4) for k, v in sums.items()}
                    print(f"{reset:8s} {state:7s} T={key:12s} min {min(sums.values()):.3f}  "
                          + "  ".join(f"{k}={v:.3f}" for k, v in sums.items()), flush=True)
            out[f"{reset}/{state}"] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--T", nargs="+", type=int, default=[1, 2, 3, 4, 6, 8, 12, 16])
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    res = {
        "meta": {"arch": "cnn", "dataset": "digits", "width": 16, "batch": 128, "batches": args.batches,
                 "neuron": "LIF beta 0.5, threshold 1, atan surrogate, detached reset", "seed": 0,
                 "default_chunk": DEFAULT_CHUNK, "python": platform.python_version(),
                 "metric": "cosine(rate-BP grad, BPTT grad) per parameter tensor, mean over batches"},
        "cosine": study(args.T, args.batches),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
