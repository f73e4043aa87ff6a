"""Our NIR files in other NIR readers, batched, spike for spike: snnTorch 1.0.0, SpikingJelly 2.0.0, Norse 1.1.0.

Each zoo SNN (BN calibrated on the digits batch so that every layer fires, asserted) is exported, written and
read back as a file, imported by the reader, and run step by step on a batch of 16 real digits; every spike of
every neuron layer and every output value must equal the BN-folded model's, run at the same per-step shapes
``[B, ...]`` (oneDNN may sum in another order for another batch size). Before negative Flatten dims, snnTorch
and Norse flattened the batch here (``mat1 and mat2 shapes cannot be multiplied``).
"""

import contextlib
import io
import logging

import nir
import pytest
import torch
from torch import nn

from neurokd.data.digits import load
from neurokd.errors import UserError
from neurokd.exporters.nir import read, record_spikes, save, to_nir
from neurokd.exporters.nir.interop import norse_graph
from neurokd.exporters.nir.verify import calibrate_activity
from neurokd.models.fold import fold_batchnorm
from tests.exporters.nir.helpers import assert_active, make_snn

# Norse 1.1's from_nir goes through nirtorch's deprecated ``load``
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.load is being deprecated:DeprecationWarning")
T = 4
# (arch, model kwargs): a conv net with Flatten (LIF, IF, another beta/threshold) and a residual one
CNNS = [("cnn", {}), ("cnn", {"type": "if"}), ("cnn", {"beta": 0.75, "threshold": 0.5})]
RESNET = ("resnet20", {"width": 8})  # residual fan-in, global average pooling (not in Norse 1.1)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """16 digits test images ``[16, 1, 8, 8]``."""
    return load().test.get_batch(torch.arange(16))[0]


def _ids(cases):
    return [f"{a}-{'-'.join(f'{k}{v}' for k, v in kw.items())}" for a, kw in cases]


def _exported(arch, kw, x, tmp_path):
    """(BN-folded model, the graph read back from its .nir file)."""
    torch.manual_seed(0)
    model = make_snn(arch, list(x.shape[1:]), T, **kw)
    calibrate_activity(model, x)
    return fold_batchnorm(model), read(save(to_nir(model), tmp_path / "model.nir"))


@torch.no_grad()
def run_reader(net: nn.Module, seq: torch.Tensor, neuron_type: type):
    """Step-by-step run of an imported graph (``forward(x, state) -> (out, state)``, as nirtorch's executors).

    Returns ``(outputs [T, B, ...], {neuron module name: spikes [T, B, ...]})``.
    """
    rec: dict[str, list[torch.Tensor]] = {}

    def hook(_m, _i, out, name):
        rec.setdefault(name, []).append(out[0] if isinstance(out, tuple) else out)

    hooks = [m.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name))
             for name, m in net.named_modules() if isinstance(m, neuron_type)]
    state, outs = None, []
    try:
        for t in range(seq.shape[0]):
            out, state = net(seq[t], state)
            outs.append(out)
    finally:
        for h in hooks:
            h.remove()
    return torch.stack(outs), {k: torch.stack(v) for k, v in rec.items()}


def assert_same_run(theirs, folded, x):
    out_r, spk_r = theirs
    out_m, spk_m = record_spikes(folded, x, stepwise=True)
    assert_active(spk_m)
    assert set(spk_r) == set(spk_m)
    for name in spk_m:
        mismatches = int((spk_r[name] != spk_m[name]).sum()) if spk_r[name].shape == spk_m[name].shape else -1
        assert mismatches == 0, f"{name}: {mismatches} of {spk_m[name].numel()} spike entries differ"
    assert torch.equal(out_r, out_m)


def _seq(x):
    return x.unsqueeze(0).expand(T, *x.shape)


# ---------------------------------------------------------------------------------------------- snnTorch
LIF_CASES = [c for c in [*CNNS, RESNET] if c[1].get("type") != "if"]


def _snntorch_import(graph):
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints progress notes
        return import_from_nir(graph)


@pytest.mark.parametrize("arch,kw", LIF_CASES, ids=_ids(LIF_CASES))
def test_snntorch_runs_our_files_batched(arch, kw, digits, tmp_path):
    import snntorch as snn

    folded, graph = _exported(arch, kw, digits, tmp_path)
    net = _snntorch_import(graph)
    assert_same_run(run_reader(net, _seq(digits), snn.Leaky), folded, digits)


def test_snntorch_cannot_read_if_nodes(digits, tmp_path):
    """snnTorch 1.0 maps NIR IF to ``Leaky(beta=0.9)`` and only for ``r == 1``; ours have ``r = 1/dt``."""
    _folded, graph = _exported("cnn", {"type": "if"}, digits, tmp_path)
    with pytest.raises(AssertionError, match="r != 1 not supported"):
        _snntorch_import(graph)


# ---------------------------------------------------------------------------------------------- SpikingJelly
@pytest.mark.parametrize("arch,kw", [*CNNS, RESNET], ids=_ids([*CNNS, RESNET]))
def test_spikingjelly_runs_our_files_batched(arch, kw, digits, tmp_path):
    sj = pytest.importorskip("spikingjelly.activation_based.nir_exchange")
    from spikingjelly.activation_based.nir_exchange.from_nir import _NIRStatefulModule

    folded, graph = _exported(arch, kw, digits, tmp_path)
    net = sj.import_from_nir(tmp_path / "model.nir", dt=float(graph.metadata["dt"]))
    assert_same_run(run_reader(net, _seq(digits), _NIRStatefulModule), folded, digits)


# ---------------------------------------------------------------------------------------------- Norse
def _norse():
    nt = pytest.importorskip("norse.torch")
    from norse.torch.module.iaf import IAFCell
    from norse.torch.module.lif_box import LIFBoxCell

    return nt, (LIFBoxCell, IAFCell)


@pytest.mark.parametrize("arch,kw", CNNS, ids=_ids(CNNS))
def test_norse_runs_our_files_batched_after_norse_graph(arch, kw, digits, tmp_path):
    nt, cells = _norse()
    folded, graph = _exported(arch, kw, digits, tmp_path)
    net = nt.from_nir(norse_graph(graph), dt=float(graph.metadata["dt"]), ignore_warnings=True)
    assert_same_run(run_reader(net, _seq(digits), cells), folded, digits)


def test_norse_without_the_rewrite_or_dt_differs(digits, tmp_path, caplog):
    """Why ``norse_graph`` and ``dt=`` are needed: Norse drops LIF ``r`` and defaults to dt = 1e-3 s."""
    nt, cells = _norse()
    folded, graph = _exported("cnn", {}, digits, tmp_path)
    _out_m, spk_m = record_spikes(folded, digits, stepwise=True)
    for g, dt in ((graph, float(graph.metadata["dt"])), (norse_graph(graph), 1e-3)):
        with caplog.at_level(logging.WARNING):
            _out, spk = run_reader(nt.from_nir(g, dt=dt), _seq(digits), cells)
        assert set(spk) == set(spk_m)
        differ = sum(int((spk[n] != spk_m[n]).sum()) for n in spk_m) / sum(s.numel() for s in spk_m.values())
        assert differ > 0.05, (dt, differ)
    assert "The parameter r is expected to be set to 1" in caplog.text  # Norse's own note about r


def test_norse_graph_is_the_same_network_and_refuses_what_norse_drops(digits, tmp_path):
    folded, graph = _exported("cnn", {}, digits, tmp_path)
    g = norse_graph(tmp_path / "model.nir")
    lif, lif0 = g.nodes["stage1_2"], graph.nodes["stage1_2"]
    assert (lif.r == 1).all() and lif.r.dtype == lif0.r.dtype == "float32"
    assert (lif.v_threshold == (lif0.v_threshold / lif0.r).astype("float32")).all()
    assert (lif.tau == lif0.tau).all() and (graph.nodes["stage1_2"].r != 1).all()  # the input is not modified
    assert (g.nodes["head_1"].weight == graph.nodes["head_1"].weight).all()  # other nodes copied unchanged
    _folded, resnet = _exported(*RESNET, digits, tmp_path)
    with pytest.raises(UserError, match=r"^NIR node 'head_0' \(AvgPool2d\) has no mapping in Norse") as e:
        norse_graph(resnet)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="expects a nir.NIRGraph"):
        norse_graph(nir.Input(input_type=[3]))
