"""``from_nir`` semantics against hand-written NumPy simulations of the NIR equations (Euler, dt).

Weights, inputs and decays are dyadic rationals, so float32 arithmetic is exact in any summation order and
the comparison is exact equality.
"""

import nir
import numpy as np
import pytest
import torch

from neurokd.exporters.nir import from_nir
from neurokd.exporters.nir.network import Gain
from neurokd.snn.neurons import IF, LIF

rng = np.random.default_rng(0)


def dyadic(shape, scale=0.25, lo=-4, hi=8):
    return (rng.integers(lo, hi, size=shape) * scale).astype(np.float32)


def graph(nodes: dict, meta=None) -> nir.NIRGraph:
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), metadata=meta or {}, type_check=False)


def simulate(x, layers):
    """NumPy reference: ``layers`` is a list of ('affine', W, b) | ('neuron', beta, gain, thr) | ('fn', f)."""
    T = x.shape[0]
    state = [None] * len(layers)
    outs = []
    for t in range(T):
        h = x[t].astype(np.float64)
        for i, layer in enumerate(layers):
            if layer[0] == "affine":
                h = h @ layer[1].T.astype(np.float64) + layer[2]
            elif layer[0] == "fn":
                h = layer[1](h)
            else:
                _, beta, gain, thr = layer
                v = (beta * state[i] if state[i] is not None else 0.0) + gain * h
                s = (v > thr).astype(np.float64)
                state[i] = v * (1 - s)
                h = s
        outs.append(h)
    return np.stack(outs)


def test_affine_lif_linear_if_match_reference():
    W1, b1, W2 = dyadic((6, 4)), dyadic(6), dyadic((3, 6))
    dt = 1e-4
    g = graph({
        "input": nir.Input(np.array([4])),
        "fc1": nir.Affine(W1, b1),
        "lif": nir.LIF(tau=np.full(6, 2 * dt, np.float32), r=np.full(6, 2.0, np.float32),
                       v_leak=np.zeros(6, np.float32), v_threshold=np.full(6, 1.0, np.float32)),
        "fc2": nir.Linear(W2),
        "if": nir.IF(r=np.ones(3, np.float32), v_threshold=np.full(3, 0.5, np.float32)),
        "output": nir.Output(np.array([3])),
    })  # no metadata: dt defaults to 1e-4; IF with r == 1 is unit gain per step
    net = from_nir(g)
    assert isinstance(net.layers["lif"], LIF) and net.layers["lif"].beta == 0.5
    assert isinstance(net.layers["if"], IF)
    x = dyadic((7, 5, 4), 0.125, 0, 12)
    ref = simulate(x, [("affine", W1, b1), ("neuron", 0.5, 1.0, 1.0), ("affine", W2, 0.0),
                       ("neuron", 1.0, 1.0, 0.5)])
    out = net(torch.from_numpy(x)).detach().numpy()
    assert np.array_equal(out, ref)
    assert 0 < ref.mean() < 1


def test_input_gain_and_dt_from_metadata():
    """r != tau/dt scales the input (Euler: gain = r*dt/tau); IF r = 3/dt is gain 3; dt from graph metadata."""
    dt = 1e-3
    W = dyadic((5, 3))
    g = graph({
        "input": nir.Input(np.array([3])),
        "fc": nir.Linear(W),
        "lif": nir.LIF(tau=np.full(5, 4 * dt), r=np.full(5, 8.0), v_leak=np.zeros(5), v_threshold=np.ones(5)),
        "fc2": nir.Linear(np.eye(5, dtype=np.float32)),
        "if": nir.IF(r=np.full(5, 3 / dt), v_threshold=np.full(5, 2.0)),
        "output": nir.Output(np.array([5])),
    }, meta={"dt": dt})
    net = from_nir(g)
    assert net.layers["lif"].beta == 0.75
    gains = [float(m.gain.flatten()[0]) for m in net.layers.values() if isinstance(m, Gain)]
    assert gains == [2.0, 3.0]  # r*dt/tau = 8 * 1/4; r*dt = 3
    x = dyadic((6, 4, 3), 0.125, 0, 10)
    ref = simulate(x, [("affine", W, 0.0), ("neuron", 0.75, 2.0, 1.0), ("affine", np.eye(5), 0.0),
                       ("neuron", 1.0, 3.0, 2.0)])
    assert np.array_equal(net(torch.from_numpy(x)).detach().numpy(), ref)
    # an explicit dt overrides the metadata: tau = 4 ms at dt = 2 ms is beta 0.5
    assert from_nir(g, dt=2e-3).layers["lif"].beta == 0.5


def test_sumpool_flatten_conv_scale_match_reference():
    Wc, bc = dyadic((2, 1, 3, 3)), dyadic(2)
    scale = dyadic((2, 2, 2))
    g = graph({
        "input": nir.Input(np.array([1, 4, 4])),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=Wc, stride=1, padding=1, dilation=1, groups=1, bias=bc),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "scale": nir.Scale(scale),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "output": nir.Output(np.array([8])),
    })
    x = dyadic((3, 2, 1, 4, 4), 0.5, 0, 4)
    conv = torch.nn.functional.conv2d(torch.from_numpy(x.reshape(6, 1, 4, 4)).double(),
                                      torch.from_numpy(Wc).double(), torch.from_numpy(bc).double(), padding=1)
    pooled = conv.reshape(6, 2, 2, 2, 2, 2).sum(dim=(3, 5))  # 2x2 windows summed (not averaged)
    ref = (pooled * torch.from_numpy(scale).double()).reshape(3, 2, 8)
    out = from_nir(g)(torch.from_numpy(x)).detach()
    assert out.shape == (3, 2, 8) and torch.equal(out.double(), ref)


def test_foreign_flatten_start_dim_keeps_batch():
    """nirtorch's default Flatten mapping flattens the batch; ours shifts NIR dims past the batch."""
    g = graph({"input": nir.Input(np.array([2, 3])),
               "flat": nir.Flatten(input_type={"input": np.array([2, 3])}, start_dim=0),
               "fc": nir.Affine(np.ones((1, 6), np.float32), np.array([0.5], np.float32)),
               "output": nir.Output(np.array([1]))})
    x = torch.ones(2, 4, 2, 3)
    out = from_nir(g)(x).detach()
    assert out.shape == (2, 4, 1) and torch.all(out == 6.5)  # bias loaded (nirtorch 2.6's Affine drops it)


def test_metadata_beta_preferred_only_when_consistent():
    tau = np.full(2, 1e-4 / (1 - 0.3), np.float32)
    node = dict(tau=tau, r=(tau / np.float32(1e-4)).astype(np.float32), v_leak=np.zeros(2, np.float32),
                v_threshold=np.ones(2, np.float32))
    def mk(meta):
        return graph({"input": nir.Input(np.array([2])), "lif": nir.LIF(**node, metadata=meta),
                      "output": nir.Output(np.array([2]))})
    assert from_nir(mk({"beta": 0.3})).layers["lif"].beta == 0.3  # exact value from metadata
    stale = from_nir(mk({"beta": 0.9})).layers["lif"].beta  # metadata disagrees with tau: tau wins
    assert stale == pytest.approx(0.3, abs=1e-6) and stale != 0.9


def test_dtype_float64():
    g = graph({"input": nir.Input(np.array([3])), "fc": nir.Affine(np.eye(3), np.zeros(3)),
               "output": nir.Output(np.array([3]))})
    net = from_nir(g, dtype=torch.float64)
    assert net.layers["fc"].weight.dtype == torch.float64
    x = torch.rand(2, 1, 3, dtype=torch.float64)
    assert torch.equal(net(x).detach(), x)
