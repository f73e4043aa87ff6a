"""LIF/IF dynamics against hand-computed traces, and the fused sequence against the one-step reference."""

import pytest
import torch

import neurokd.snn.functional as F
from neurokd.snn import IF, LIF, ATan, Sigmoid, Triangle, lif_sequence, lif_step

# beta = 0.5, theta = 1; dyadic inputs so every membrane value below is exact in float32.
X = [0.5, 0.5, 0.5, 0.25, 1.0, 0.0, 1.5]
TRACES = {
    #            pre-reset membranes h[t]                                   spikes
    "zero": ([0.5, 0.75, 0.875, 0.6875, 1.34375, 0.0, 1.5], [0, 0, 0, 0, 1, 0, 1],
             [0.5, 0.75, 0.875, 0.6875, 0.0, 0.0, 0.0]),
    "subtract": ([0.5, 0.75, 0.875, 0.6875, 1.34375, 0.171875, 1.5859375], [0, 0, 0, 0, 1, 0, 1],
                 [0.5, 0.75, 0.875, 0.6875, 0.34375, 0.171875, 0.5859375]),
}


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_lif_trace_matches_hand_computation(reset):
    h_ref, s_ref, v_ref = TRACES[reset]
    v = torch.zeros(1)
    spikes, membranes = [], []
    for x in X:
        s, v = lif_step(torch.tensor([x]), v, 0.5, 1.0, reset, ATan())
        spikes.append(s.item())
        membranes.append(v.item())
    assert spikes == s_ref
    assert membranes == v_ref
    s_seq, v_last = lif_sequence(torch.tensor(X).view(-1, 1), 0.5, 1.0, reset, ATan())
    assert s_seq.flatten().tolist() == s_ref
    assert v_last.item() == v_ref[-1]


@pytest.mark.parametrize("reset,v_ref,s_ref", [
    ("zero", [0.5, 1.0, 0.0, 0.75], [0, 0, 1, 0]),
    ("subtract", [0.5, 1.0, 0.25, 1.0], [0, 0, 1, 0]),
])
def test_if_trace_and_strict_threshold(reset, v_ref, s_ref):
    # v reaches exactly theta = 1 at t=1 and t=3 (subtract): no spike, the threshold is strict (v > theta)
    neuron = IF(threshold=1.0, reset=reset)
    x = torch.tensor([0.5, 0.5, 0.25, 0.75]).view(-1, 1)
    s = neuron(x)
    assert s.flatten().tolist() == s_ref
    v = None
    for t in range(4):
        _, v = neuron.step(x[t], v)
        assert v.item() == v_ref[t]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("detach", [True, False])
@pytest.mark.parametrize("learn_beta", [True, False])
@pytest.mark.parametrize("stepwise", [True, False])
def test_sequence_equals_step_loop_forward_and_backward(reset, detach, learn_beta, stepwise, monkeypatch):
    monkeypatch.setattr(F, "STEPWISE_NUMEL", 1 if stepwise else 1 << 30)
    torch.manual_seed(0)
    x = torch.randn(7, 3, 11, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, 11, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(0.8, dtype=torch.float64, requires_grad=True) if learn_beta else 0.8
    w = torch.randn(7, 3, 11, dtype=torch.float64)
    sur = ATan()
    s, v = lif_sequence(x, beta, 0.4, reset, sur, detach, v0)
    loss = (s * w).sum() + (v ** 2).sum()
    inputs = [x, v0] + ([beta] if learn_beta else [])
    grads = torch.autograd.grad(loss, inputs)

    vv, steps = v0, []
    for t in range(7):
        st, vv = lif_step(x[t], vv, beta, 0.4, reset, sur, detach)
        steps.append(st)
    s_ref = torch.stack(steps)
    ref_grads = torch.autograd.grad((s_ref * w).sum() + (vv ** 2).sum(), inputs)
    assert torch.equal(s, s_ref)
    assert torch.equal(v, vv)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sur", [ATan(), Sigmoid(), Triangle(), ATan(alpha=5.0)])
def test_surrogate_in_place_equals_out_of_place(sur):
    x = torch.linspace(-3, 3, 101)
    torch.testing.assert_close(sur.grad_(x.clone()), sur.grad(x))
    g, c = sur.scaled_grad_(x.clone())
    torch.testing.assert_close(g * c, sur.grad(x))


def test_surrogate_values():
    zero = torch.zeros(1)
    assert ATan(2.0).grad(zero).item() == pytest.approx(1.0)  # alpha/2
    assert Sigmoid(4.0).grad(zero).item() == pytest.approx(1.0)  # alpha/4
    assert Triangle(1.0).grad(zero).item() == pytest.approx(1.0)
    assert Triangle(1.0).grad(torch.tensor([0.5, 1.5])).tolist() == [0.5, 0.0]


def test_learnable_beta_receives_gradient_and_stays_in_range():
    neuron = LIF(beta=0.9, learn_beta=True)
    x = torch.rand(6, 4, 5) * 2
    neuron(x).sum().backward()
    assert neuron.beta_logit.grad is not None and neuron.beta_logit.grad.abs().item() > 0
    assert 0.0 < float(neuron.beta.detach()) < 1.0
    assert float(neuron.beta.detach()) == pytest.approx(0.9, rel=1e-6)


def test_folded_input_equals_time_major_input():
    x = torch.randn(5, 3, 4, 6)
    a = LIF(beta=0.7)(x)
    b = LIF(beta=0.7, T=5)(x.reshape(15, 4, 6)).reshape(5, 3, 4, 6)
    assert torch.equal(a, b)


def test_stateful_neuron_continues_across_calls():
    x = torch.randn(8, 2, 3) * 2
    whole = LIF(beta=0.6)(x)
    neuron = LIF(beta=0.6)
    neuron.stateful = True
    parts = torch.cat([neuron(x[:3]), neuron(x[3:])])
    assert torch.equal(whole, parts)
    neuron.reset_state()
    assert torch.equal(neuron(x[:3]), whole[:3])


def test_invalid_parameters_raise():
    with pytest.raises(ValueError):
        LIF(beta=1.5)
    with pytest.raises(ValueError):
        LIF(reset="hard")
    with pytest.raises(ValueError):
        LIF(T=3)(torch.zeros(4, 2))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_kept_membranes_are_the_hand_trace_and_change_no_spike(reset):
    _h, s_ref, v_ref = TRACES[reset]
    x = torch.tensor(X).reshape(-1, 1)
    s, v = F.lif_membranes(x, 0.5, 1.0, reset)
    assert s.flatten().tolist() == s_ref and v.flatten().tolist() == v_ref
    torch.manual_seed(0)
    x = torch.randn(6, 4, 3, 5)
    neuron = LIF(beta=0.7, threshold=0.3, reset=reset, learn_beta=True)
    plain = neuron(x)
    neuron.keep_membranes = True
    with torch.no_grad():
        kept = neuron(x)
    assert torch.equal(kept, plain) and neuron.membranes.shape == x.shape
    v = torch.zeros_like(x[0])
    for t in range(6):  # every kept membrane is the one-step reference's, bit for bit
        _s, v = lif_step(x[t], v, neuron.beta.detach(), 0.3, reset, ATan())
        assert torch.equal(neuron.membranes[t], v)
