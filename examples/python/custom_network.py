"""Your own spiking network from neurokd's layers, trained in a plain PyTorch loop on the digits dataset.

    python examples/python/custom_network.py [--epochs 3] [--T 4]

``MultiStep`` is ``nn.Sequential`` over time-major ``[T, B, ...]`` input: the convolutions, BatchNorm, flatten
and linear layers run once on the time-folded batch, the LIF neurons integrate over the T steps (surrogate
gradients, BPTT). The input is direct-encoded (the image repeated at every step); the prediction is the mean of
the per-step logits.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from neurokd.config import DataConfig
from neurokd.data import load_dataset, make_loaders
from neurokd.snn import LIF, MultiStep, encode, spiking_neurons


def build_network() -> MultiStep:
    """conv 8 -> LIF -> conv 16 (stride 2) -> LIF -> linear, for 1x8x8 images and 10 classes."""
    return MultiStep(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), LIF(beta=0.9, surrogate="atan"),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), LIF(beta=0.9),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10),
    )


def accuracy(net: MultiStep, loader, T: int) -> float:
    net.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((net(encode(x, T)).mean(0).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--T", type=int, default=4, help="time steps")
    args = p.parse_args()
    torch.manual_seed(0)
    cfg = DataConfig(name="digits", batch_size=32)
    train, _val, test = make_loaders(load_dataset(cfg), cfg, seed=0)
    net = build_network()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for epoch in range(1, args.epochs + 1):
        net.train()
        train.set_epoch(epoch)
        for x, y in train:
            loss = nn.functional.cross_entropy(net(encode(x, args.T)).mean(0), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: loss {loss.item():.3f}, test accuracy {accuracy(net, test, args.T):.3f}")
    rates = []
    with torch.no_grad():  # firing rate of each LIF layer on one test batch
        hooks = [m.register_forward_hook(lambda _m, _i, s: rates.append(float(s.mean())))
                 for m in spiking_neurons(net)]
        net(encode(next(iter(test))[0], args.T))
        for h in hooks:
            h.remove()
    print("firing rates per LIF layer:", ", ".join(f"{r:.3f}" for r in rates))


if __name__ == "__main__":
    main()
