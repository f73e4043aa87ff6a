"""The QCFS activation: L levels up to a learnable threshold, floor with a straight-through gradient."""

import torch

from neurokd.models import ModelSpec, build_model
from neurokd.models.base import TwinNet
from neurokd.models.qcfs import QCFS, qcfs


def test_values_are_quantized_clipped_and_shifted():
    x = torch.tensor([-1.0, 0.2, 0.26, 0.9, 1.1, 1.9, 2.5])
    # lam = 2, L = 4: steps of 0.5, rounding (shift 1/2) to the nearest step, clipped to [0, 2]
    assert qcfs(x, torch.tensor(2.0), 4).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0, 2.0, 2.0]


def test_straight_through_gradients():
    x = torch.tensor([-1.0, 0.3, 1.1, 3.0], requires_grad=True)
    lam = torch.tensor(2.0, requires_grad=True)
    qcfs(x, lam, 4).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # identity inside the range, zero where clipped
    # d/dlam: clipped at the top -> 1; inside -> h/lam - x/lam (the STE floor); below 0 -> 0
    inside = [qcfs(torch.tensor(v), torch.tensor(2.0), 4).item() / 2 - v / 2 for v in (0.3, 1.1)]
    assert abs(lam.grad.item() - (sum(inside) + 1.0)) < 1e-6


def test_qcfs_twin_learns_one_threshold_per_activation():
    spec = ModelSpec(arch="resnet1d", kind="ann", width=4, num_classes=3, input_shape=[1, 40], activation="qcfs",
                     qcfs_levels=8)
    model = build_model(spec)
    acts = [m for m in model.modules() if isinstance(m, QCFS)]
    assert len(acts) == 17 and all(a.levels == 8 and a.threshold.requires_grad for a in acts)
    assert isinstance(model, TwinNet) and "stage1.0" in model.branch_points()  # a block ends in QCFS
    model(torch.rand(4, 1, 40)).sum().backward()
    assert all(a.threshold.grad is not None for a in acts)
