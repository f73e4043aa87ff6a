"""KD losses against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from neurokd.distill.losses import feature_l2, kd_term, response_kd, response_kd_per_step


def test_kl_is_zero_when_student_equals_teacher():
    z = torch.randn(5, 10)
    for tau in (1.0, 2.0, 4.0):
        assert kd_term(z, z.clone(), tau).item() == 0.0


def test_known_kl_value_on_a_small_example():
    # teacher p = [1/4, 3/4], student p = [1/2, 1/2]: KL = 1/4 ln(1/2) + 3/4 ln(3/2)
    teacher = torch.tensor([[0.0, math.log(3.0)]] * 2)
    student = torch.zeros(2, 2)
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kd_term(student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-7)
    # response KD mixes it with CE(uniform, y) = ln 2: (1 - a) ln 2 + a KL
    out = response_kd(student, teacher, torch.tensor([1, 1]), alpha=0.25, tau=1.0)
    assert out.ce.item() == pytest.approx(math.log(2.0), abs=1e-7)
    assert out.kd.item() == pytest.approx(expected, abs=1e-7)
    assert out.loss.item() == pytest.approx(0.75 * math.log(2.0) + 0.25 * expected, abs=1e-7)


def test_tau_squared_scaling():
    s, t = torch.randn(4, 7), torch.randn(4, 7)
    base = kd_term(s, t, 1.0)
    for tau in (2.0, 3.0, 5.0):
        # softmax(tau*z / tau) = softmax(z): only the tau^2 factor remains
        torch.testing.assert_close(kd_term(tau * s, tau * t, tau), tau**2 * base, rtol=1e-5, atol=1e-6)
    # and at a fixed pair, the temperature-tau KL is tau^2 times the plain KL of the softened distributions
    tau = 3.0
    manual = (F.softmax(t / tau, 1) * (F.log_softmax(t / tau, 1) - F.log_softmax(s / tau, 1))).sum(1).mean()
    torch.testing.assert_close(kd_term(s, t, tau), tau**2 * manual)


def test_alpha_endpoints_and_teacher_gets_no_gradient():
    s = torch.randn(3, 5, requires_grad=True)
    t = torch.randn(3, 5, requires_grad=True)
    y = torch.tensor([0, 2, 4])
    torch.testing.assert_close(response_kd(s, t, y, 0.0, 2.0).loss, F.cross_entropy(s, y))
    torch.testing.assert_close(response_kd(s, t, y, 1.0, 2.0).loss, kd_term(s, t, 2.0))
    response_kd(s, t, y, 0.5, 2.0).loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0 and t.grad is None


def test_per_step_is_the_mean_of_per_step_losses():
    seq, t, y = torch.randn(4, 6, 10), torch.randn(6, 10), torch.randint(0, 10, (6,))
    out = response_kd_per_step(seq, t, y, 0.3, 2.0)
    steps = [response_kd(seq[i], t, y, 0.3, 2.0) for i in range(4)]
    torch.testing.assert_close(out.loss, torch.stack([s.loss for s in steps]).mean())
    torch.testing.assert_close(out.kd, torch.stack([s.kd for s in steps]).mean())
    # differs from KD on the time-mean logits (the per-step form is a different objective)
    assert not torch.allclose(out.loss, response_kd(seq.mean(0), t, y, 0.3, 2.0).loss)


def test_feature_l2_values():
    a = torch.randn(3, 4, 5)
    assert feature_l2(a, a.clone()).item() == 0.0
    torch.testing.assert_close(feature_l2(a, a + 2.0), torch.tensor(4.0))
    # l2: scale-invariant; opposite vectors are 4 apart, orthogonal ones 2
    torch.testing.assert_close(feature_l2(a, 7.0 * a, "l2"), torch.tensor(0.0), atol=1e-6, rtol=0)
    torch.testing.assert_close(feature_l2(a, -a, "l2"), torch.tensor(4.0))
    u = torch.tensor([[1.0, 0.0]])
    v = torch.tensor([[0.0, 3.0]])
    torch.testing.assert_close(feature_l2(u, v, "l2"), torch.tensor(2.0))
    with pytest.raises(ValueError, match="differ"):
        feature_l2(torch.zeros(2, 3), torch.zeros(2, 4))
