"""Interoperability with snnTorch 1.0 (``export_to_nir`` / ``import_from_nir``), spike for spike.

Conventions needed (docs/nir.md):
- snnTorch's importer maps NIR ``Flatten(start_dim)`` to ``torch.nn.Flatten(start_dim)`` unchanged; our
  negative Flatten dims keep the batch there as they are (no fix-up after import).
- snnTorch simulates one step per call on ``[B, ...]``; we compare at the same kernel shapes (our models run
  step by step with stateful neurons), since oneDNN may sum in another order for another batch size.
- snnTorch ``Leaky`` must use ``reset_mechanism="zero"`` and ``reset_delay=False`` to mean what NIR says
  (reset within the step); its export needs per-neuron ``beta``/``threshold`` tensors and ``ignore_dims=[0]``.
"""

import contextlib
import io

import numpy as np
import pytest
import torch
from torch import nn

from neurokd.exporters.nir import from_nir, read, record_spikes, save, to_nir
from neurokd.exporters.nir.verify import calibrate_activity
from neurokd.models.fold import fold_batchnorm
from tests.exporters.nir.helpers import assert_active, make_snn

snn = pytest.importorskip("snntorch")
pytest.importorskip("nirtorch")
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402


def _quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints progress notes
        return fn(*args, **kwargs)


@torch.no_grad()
def run_snntorch(net: nn.Module, seq: torch.Tensor, graph_module: bool):
    """Per-step snnTorch simulation: (outputs [T, B, ...], {Leaky module name: spikes [T, B, ...]})."""
    snn_utils.reset(net)
    rec: dict[str, list] = {}
    hooks = [m.register_forward_hook(lambda _m, _i, o, name=name: rec.setdefault(name, []).append(o))
             for name, m in net.named_modules() if isinstance(m, snn.Leaky)]
    outs = []
    for t in range(seq.shape[0]):
        o = net(seq[t])
        outs.append(o[0] if graph_module else o)  # nirtorch GraphModules return (output, state)
    for h in hooks:
        h.remove()
    return torch.stack(outs), {k: torch.stack(v) for k, v in rec.items()}


@pytest.mark.parametrize("arch,shape,kw", [
    ("cnn", [1, 8, 8], {}),
    ("vgg11", [3, 32, 32], {"width": 8}),  # AvgPool2d
    ("resnet20", [3, 16, 16], {"width": 8}),  # residual fan-in, global average pooling
    ("resnet1d", [1, 40], {"width": 8}),  # the same in 1-D (Conv1d), flatten head
    ("cnn", [1, 8, 8], {"beta": 0.75, "threshold": 0.5}),
])
def test_our_export_runs_identically_in_snntorch(arch, shape, kw, tmp_path):
    torch.manual_seed(0)
    model = make_snn(arch, shape, 4, **kw)
    x = torch.rand(16, *shape, generator=torch.Generator().manual_seed(3))
    calibrate_activity(model, x)
    folded = fold_batchnorm(model)
    path = save(to_nir(model), tmp_path / "m.nir")
    theirs = _quiet(import_from_nir, read(path))
    out_s, spk_s = run_snntorch(theirs, x.unsqueeze(0).expand(4, *x.shape), graph_module=True)
    out_m, spk_m = record_spikes(folded, x, stepwise=True)  # our model, same per-step shapes
    out_n, spk_n = record_spikes(from_nir(path), x, stepwise=True)  # our import of the same file
    assert_active(spk_m)
    assert set(spk_s) == set(spk_m) == set(spk_n)
    for name in spk_m:
        assert torch.equal(spk_s[name], spk_m[name]), name
        assert torch.equal(spk_n[name], spk_m[name]), name
    assert torch.equal(out_s, out_m) and torch.equal(out_n, out_m)


def _leaky(shape, beta=0.9, threshold=1.0, **kw):
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.full(shape, threshold),
                     reset_mechanism="zero", reset_delay=False, init_hidden=True, **kw)


def _snntorch_net() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), _leaky((8, 8, 8)),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), _leaky((16, 4, 4), 0.8),
        nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 32), _leaky((32,), 0.95, 0.5),
        nn.Linear(32, 10), _leaky((10,), 0.5))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d | nn.Linear):
                m.weight.mul_(3.0)  # default init is too weak to make the later layers spike
    return net


def test_snntorch_export_runs_identically_in_neurokd(tmp_path):
    net = _snntorch_net()
    graph = _quiet(export_to_nir, net, torch.rand(1, 1, 8, 8), ignore_dims=[0])
    ours = from_nir(save(graph, tmp_path / "snntorch.nir"))  # no neurokd metadata: defaults (dt 1e-4, zero)
    assert [type(m).__name__ for m in ours.layers.values()] == [
        "Conv2d", "LIF", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Linear", "LIF", "Linear", "LIF"]
    assert [round(m.beta, 6) for m in ours.neurons().values()] == [0.9, 0.8, 0.95, 0.5]
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 2
    seq = x.unsqueeze(0).expand(6, *x.shape)
    out_s, spk_s = run_snntorch(net, seq, graph_module=False)
    out_n, spk_n = record_spikes(ours, seq, stepwise=True)
    assert_active(spk_n, lo=0.01)
    assert set(spk_s) == set(spk_n) == {"1", "3", "7", "9"}
    for name in spk_s:
        assert torch.equal(spk_s[name], spk_n[name]), name
    assert torch.equal(out_s, out_n)


def test_snntorch_leaky_beta_one_imports_as_if(tmp_path):
    """snnTorch 1.0 writes ``Leaky(beta=1)`` as ``tau = r = inf``: an IF neuron with unit gain, spike for spike."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(12, 16), _leaky((16,), beta=1.0, threshold=1.5),
                        nn.Linear(16, 5), _leaky((5,), beta=1.0, threshold=0.75))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(2.0)
    with pytest.warns(RuntimeWarning):  # snnTorch's own dt / (1 - beta)
        graph = _quiet(export_to_nir, net, torch.rand(1, 12), ignore_dims=[0])
    lifs = [n for n in graph.nodes.values() if type(n).__name__ == "LIF"]
    assert lifs and all(np.isinf(n.tau).all() and np.isinf(n.r).all() for n in lifs)
    ours = from_nir(save(graph, tmp_path / "if.nir"))
    neurons = list(ours.neurons().values())
    assert [type(m).__name__ for m in neurons] == ["IF", "IF"]
    assert not any(type(m).__name__ == "Gain" for m in ours.layers.values())  # unit gain, not NaN
    x = torch.rand(32, 12, generator=torch.Generator().manual_seed(5))
    seq = x.unsqueeze(0).expand(8, *x.shape)
    out_s, spk_s = run_snntorch(net, seq, graph_module=False)
    out_n, spk_n = record_spikes(ours, seq, stepwise=True)
    assert_active(spk_n, lo=0.01)
    assert set(spk_s) == set(spk_n) == {"1", "3"}
    for name in spk_s:
        assert torch.equal(spk_s[name], spk_n[name]), name
    assert torch.equal(out_s, out_n)
