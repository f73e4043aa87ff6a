"""Distillation under ``train.backprop rate``: the same loss values as BPTT, rate-pass gradients, refusals."""

import copy

import pytest
import torch

from neurokd import load_model
from neurokd.config import DistillConfig
from neurokd.distill import DistillObjective, distill
from neurokd.errors import ConfigError
from tests.distill.conftest import run_cfg, zoo


def test_distill_objective_with_rate_gives_bptt_values(digits_teacher):
    """Response + feature KD under rate-BP: same loss terms in value as under BPTT (T <= rate_chunk)."""
    teacher = load_model(digits_teacher)
    student = zoo("cnn", [1, 8, 8], kind="snn", T=2, width=8).train()
    cfg = DistillConfig(method="response+feature", taps=["stage2", "last"])
    obj = DistillObjective(cfg, teacher, student, [1, 8, 8], 10)
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    ref = obj(copy.deepcopy(student), x, y)
    obj.set_backprop("rate")
    out = obj(student, x, y)
    for k in ("ce", "kd", "feat"):
        assert out.parts[k] == pytest.approx(ref.parts[k], rel=1e-5, abs=1e-6)
    out.loss.backward()
    assert all(p.grad is not None for p in student.parameters())
    assert all(p.grad is not None for p in obj.adapters.parameters())
    per_step = DistillObjective(DistillConfig(method="response", per_step=True), teacher, student, [1, 8, 8], 10)
    with pytest.raises(ConfigError, match=r"train\.backprop.*per_step"):
        per_step.set_backprop("rate")


def test_distill_refuses_per_step_with_rate_before_training(tmp_path, digits_teacher):
    cfg = run_cfg(tmp_path, **{"distill.method": "response", "distill.per_step": True,
                               "distill.teacher": str(digits_teacher), "train.backprop": "rate"})
    with pytest.raises(ConfigError, match="train.backprop"):
        distill(cfg)
    assert not (tmp_path / "r").exists()
