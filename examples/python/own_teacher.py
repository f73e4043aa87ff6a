"""Bring your own teacher: any ``nn.Module`` that maps digits images to 10 logits, distilled into a spiking cnn.

    python examples/python/own_teacher.py [--epochs 10]

The teacher here is a small PyTorch MLP trained in a plain loop; neurokd freezes it and distills it into its
spiking student by response KD (the module is not recorded in the run folder: pass it again to ``--resume``).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import neurokd as nk
from neurokd.config import DataConfig
from neurokd.data import load_split


def train_mlp(epochs: int) -> nn.Module:
    """A 64-128-10 MLP on the digits training split (Adam, full batch)."""
    torch.manual_seed(0)
    x, y = load_split(DataConfig(name="digits"), "train").tensors()
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(mlp(x), y).backward()
        opt.step()
    return mlp.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10, help="student epochs")
    p.add_argument("--out", default="runs")
    args = p.parse_args()
    teacher = train_mlp(args.epochs)
    x, y = load_split(DataConfig(name="digits"), "test").tensors()
    with torch.no_grad():
        print(f"MLP teacher test accuracy {(teacher(x).argmax(1) == y).float().mean():.4f}")
    student = nk.distill_snn(teacher, method="response", alpha=0.5, tau=4.0, dataset="digits", arch="cnn", T=4,
                             epochs=args.epochs, name="ex-own-teacher", out_dir=args.out, overwrite=True)
    s = student.summary
    print(f"spiking student test accuracy {s['test_acc']:.4f} (teacher as scored by neurokd: "
          f"{s['teacher_test_acc']:.4f}; teacher recorded as {s['teacher']})")


if __name__ == "__main__":
    main()
