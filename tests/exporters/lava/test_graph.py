"""Residual networks as Lava graphs: the quantizer's structure (fan-in, delays, one scale per population), the
NumPy model against an independent float64 reference of the same integer graph, the chain special case against
the netx export, the ``.lava`` file format and the choice of form."""

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurokd.exporters.lava import numpy_sim
from neurokd.exporters.lava.export import lava_form, to_lava
from neurokd.exporters.lava.files import read_lava
from neurokd.exporters.lava.graph import INPUT, GraphFormatError, LavaGraph, graph_of_netx
from neurokd.exporters.lava.graph_quantize import quantize_graph
from neurokd.exporters.lava.graph_reader import read_graph
from neurokd.exporters.lava.graph_writer import write_graph
from neurokd.exporters.lava.quantize import ExportError, quantize_model
from neurokd.exporters.lava.simulation import RESET_OFFSET, encode_inputs
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.snn import get_surrogate, lif_sequence

from .conftest import random_batchnorm

SHAPES = {"resnet20": [1, 8, 8], "resnet1d": [1, 40], "cnn": [1, 8, 8], "cnn1d": [1, 40], "resnet18": [3, 16, 16],
          "resnet19": [3, 16, 16], "resnet34": [3, 16, 16]}


def active_model(arch: str, seed: int = 1, beta: float = 0.5, width: int = 4):
    """An untrained SNN with non-trivial BatchNorm statistics (folding and biases matter) that spikes."""
    torch.manual_seed(seed)
    spec = ModelSpec(arch=arch, kind="snn", T=4, width=width, num_classes=5, input_shape=SHAPES[arch],
                     neuron=NeuronSpec(type="lif", beta=beta, threshold=0.7))
    return random_batchnorm(build_model(spec).eval())


def graph_reference(graph: LavaGraph, frames: np.ndarray):
    """Float64 torch run of the integer graph in logical time (no latency: every projection's delay aligns its
    path, so a population's step k sums its inputs' step k): frames ``[B, T, *in]`` -> (spikes per population
    ``[B, T, ...]``, readout sum ``[B, K]`` in weight units). Exact while no decay truncation occurs."""
    x = torch.from_numpy(frames).double().transpose(0, 1)  # [T, B, ...]
    T, B = x.shape[:2]
    values = {INPUT: x}
    spikes = []
    for pop in graph.populations:
        current = torch.from_numpy(pop.bias_array()).double()
        for pr in graph.incoming(pop.name):
            h = values[pr.source].reshape(T * B, *values[pr.source].shape[2:])
            w = torch.from_numpy(pr.effective_weight).double()
            if pr.kind == "conv":
                a = F.conv2d(h, w, None, pr.stride, pr.padding, pr.dilation, pr.groups)
            else:
                a = F.linear(h.reshape(T * B, -1), w)
            current = current + a.reshape(T, B, *pop.shape)
        if pop is graph.readout:
            return spikes, current.sum(0).reshape(B, -1).numpy()
        beta = 1 - pop.neuron.v_decay / 4096
        s, _ = lif_sequence(current, beta, float(pop.neuron.v_th_mant), "zero", get_surrogate("atan"))
        values[pop.name] = s
        spikes.append(s.transpose(0, 1).numpy().astype(bool))
    raise AssertionError("no readout")


def logical_numpy(graph: LavaGraph, frames: np.ndarray):
    """The NumPy model in physical time, each population's window cut out at its depth."""
    B, T = frames.shape[:2]
    depths = graph.depths()
    stream = np.concatenate([frames, np.zeros((B, depths[-1], *frames.shape[2:]), np.int64)], 1)
    trace = numpy_sim.run(graph, stream, reset_interval=T, reset_offset=RESET_OFFSET)
    spikes = [s[:, d:d + T] for s, d in zip(trace.spikes, depths)]
    return spikes, trace.v_last[:, T + depths[-1] - 1]


@pytest.mark.parametrize("arch", ["resnet20", "resnet1d", "resnet18", "resnet19", "resnet34"])
def test_numpy_model_equals_float64_reference_of_the_exported_graph(arch):
    model = active_model(arch)
    x = torch.rand(12, *SHAPES[arch]) * 2
    graph, _ = quantize_graph(model, calibration=x)
    frames = encode_inputs(graph, x.numpy())
    ref_spikes, ref_sum = graph_reference(graph, frames)
    got_spikes, got_v = logical_numpy(graph, frames)
    assert min(s.sum() for s in ref_spikes) > 0  # every population spikes
    for pop, r, g in zip(graph.populations, ref_spikes, got_spikes):
        assert np.array_equal(r, g.reshape(r.shape)), pop.name
    assert np.array_equal(got_v, (ref_sum * 64).round().astype(np.int64))


@pytest.mark.parametrize("arch, blocks", [("resnet20", 9), ("resnet1d", 8)])
def test_residual_adds_become_fan_in_with_aligned_delays(arch, blocks):
    graph, report = quantize_graph(active_model(arch), input_max=2.0)
    fan_in = {p.name: graph.incoming(p.name) for p in graph.populations}
    adds = [name for name, prs in fan_in.items() if len(prs) == 2]
    assert len(adds) == blocks and all(name.endswith("_act2") for name in adds)
    for name in adds:
        main, shortcut = fan_in[name]
        assert main.name.endswith("conv2") and main.delay == 0
        # the shortcut skips conv1 -> act1 -> conv2, one synapse hop shorter: one step of delay re-aligns it
        assert shortcut.delay == 1 and (shortcut.name.endswith("downsample_0") or shortcut.attrs["kind"] == "identity")
    assert all(len(prs) == 1 and prs[0].delay == 0 for name, prs in fan_in.items() if name not in adds)
    assert graph.depths() == list(range(1, 2 * blocks + 3))  # stem, two per block, the readout
    q = {lq.name: lq for lq in report.layers}
    assert q[adds[0]].kind in ("conv+identity", "conv+conv") and q[graph.readout.name].role == "readout"


def test_both_inputs_of_an_add_share_the_population_scale():
    model = active_model("resnet20")
    graph, report = quantize_graph(model, input_max=2.0)
    scale = {lq.name: lq.scale for lq in report.layers}
    pop = "stage1_0_act2"
    conv2, identity = graph.incoming(pop)
    # the identity adds one float unit per spike: S in weight units, i.e. mantissa << exponent = round(S)
    assert int(identity.effective_weight.max()) == pytest.approx(scale[pop], abs=2 ** identity.weight_exp / 2)
    assert np.all(identity.weight == identity.weight.flat[0])
    block = model.stage1[0]
    gain = block.bn2.weight.detach().double() / torch.sqrt(block.bn2.running_var.double() + block.bn2.eps)
    folded = (block.conv2.weight.detach().double() * gain[:, None, None, None]).numpy()
    # each path keeps 8-bit mantissas in the shared scale, the coarser one with a weight exponent
    step = 2 ** conv2.weight_exp / scale[pop]
    assert np.abs(conv2.effective_weight / scale[pop] - folded).max() <= step / 2 + 1e-12
    assert max(np.abs(pr.weight).max() for pr in graph.projections) <= 127


def test_global_average_pooling_folds_into_the_readout_weights():
    model = active_model("resnet20")
    graph, report = quantize_graph(model, input_max=2.0)
    (head,) = graph.incoming(graph.readout.name)
    c, h, w = graph.populations[-2].shape
    assert head.kind == "dense" and head.weight.shape == (5, c * h * w)
    per_position = head.effective_weight.reshape(5, c, h * w)
    assert np.all(per_position == per_position[..., :1])  # the same weight at every position of a channel
    linear = model.head[2].weight.detach().double().numpy()
    assert np.abs(per_position[..., 0] / report.layers[-1].scale - linear / (h * w)).max() <= 0.5 / report.layers[
        -1].scale * 2 ** head.weight_exp + 1e-12


@pytest.mark.parametrize("arch", ["cnn", "cnn1d"])
def test_a_chain_quantizes_to_the_same_integers_as_its_netx_export(arch):
    model = active_model(arch)
    x = torch.rand(16, *SHAPES[arch])
    graph, _ = quantize_graph(model, calibration=x)
    netx = graph_of_netx(quantize_model(model, calibration=x)[0])
    assert [p.neuron for p in graph.populations] == [p.neuron for p in netx.populations]
    for a, b in zip(graph.projections, netx.projections):
        assert np.array_equal(a.effective_weight, b.effective_weight) and a.delay == b.delay == 0
    for a, b in zip(graph.populations, netx.populations):
        assert np.array_equal(a.bias_array(), b.bias_array())
    assert graph.meta["input_scale"] == netx.meta["input_scale"]
    frames = encode_inputs(graph, x.numpy())
    assert np.array_equal(logical_numpy(graph, frames)[1], logical_numpy(netx, frames)[1])


def test_lava_form_follows_the_model_and_the_suffix(tmp_path):
    resnet, cnn = active_model("resnet20"), active_model("cnn")
    assert lava_form(resnet) == "graph" and lava_form(cnn) == "netx"
    assert lava_form(cnn, "m.lava") == "graph" and lava_form(resnet, "m.h5") == "graph"
    with pytest.raises(ExportError, match="residual connections.*a path ending in .lava"):
        lava_form(resnet, tmp_path / "m.net")
    report, form = to_lava(cnn, tmp_path / "c.lava", input_max=1.0)
    assert form == "graph" and isinstance(read_lava(tmp_path / "c.lava"), LavaGraph)
    assert report.layers[-1].role == "readout"


def test_round_trip_keeps_the_graph(tmp_path):
    graph, _ = quantize_graph(active_model("resnet20"), input_max=2.0)
    back = read_graph(write_graph(graph, tmp_path / "r.lava"))
    assert [p.name for p in back.populations] == [p.name for p in graph.populations]
    for a, b in zip(graph.populations, back.populations):
        assert a.shape == b.shape and a.neuron == b.neuron and np.array_equal(a.bias_array(), b.bias_array())
        assert b.attrs["role"] == a.attrs["role"]
    for a, b in zip(graph.projections, back.projections):
        assert (a.name, a.source, a.target, a.kind, a.weight_exp, a.delay) == (b.name, b.source, b.target, b.kind,
                                                                               b.weight_exp, b.delay)
        assert np.array_equal(a.weight, b.weight) and (a.stride, a.padding, a.groups) == (b.stride, b.padding,
                                                                                          b.groups)
    assert back.meta["T"] == 4 and back.meta["report"]["layers"][0]["name"] == "stem_2"
    assert [p.name for p in tmp_path.iterdir()] == ["r.lava"]  # atomic write


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _replace(key, value):
    def fn(f):
        del f[key]
        f[key] = value
    return fn


@pytest.mark.parametrize("edit, needle", [
    (lambda f: f.attrs.__setitem__("format", "other/1"), "not a neurokd Lava graph file"),
    (lambda f: f.__delitem__("projection"), "no 'projection' group"),
    (_replace("projection/1/delay", 70), "delay 70 is outside Loihi 2's [0, 62]"),
    (_replace("projection/1/weightExp", 9), "weightExp 9 is outside [0, 7]"),
    (_replace("projection/3/delay", 0), "inputs arrive after different numbers of steps"),
    (_replace("projection/1/source", b"nowhere"), "names population 'nowhere'"),
    (_replace("projection/1/source", b"stage1_0_act2"), "does not come before its target"),
    (_replace("projection/1/weight", np.ones((3, 4, 3, 3), np.int16)), "produces shape [3, 8, 8]"),
    (_replace("projection/1/type", b"pool"), "projection type 'pool'"),
    (_replace("population/0/bias", np.ones(3, np.int16)), "'bias' must have 4 values"),
    (_replace("population/0/neuron/vDecay", 5000), "vDecay must be an integer in [0, 4096]"),
    (_replace("projection/0/weight", np.full((4, 1, 3, 3), 200, np.int16)), "mantissas span [200, 200], outside"),
    (_replace("population/1/name", b"input"), "names must be unique and not 'input'"),
])
def test_malformed_graph_files_are_one_line_errors(tmp_path, edit, needle):
    graph, _ = quantize_graph(active_model("resnet20"), input_max=2.0)
    path = _edit(write_graph(graph, tmp_path / "r.lava"), edit)
    with pytest.raises(GraphFormatError) as e:
        read_graph(path)
    assert needle in str(e.value) and "\n" not in str(e.value) and str(path) in str(e.value)


def test_a_netx_file_is_not_read_as_a_graph(tmp_path):
    from neurokd.exporters.lava.netx_writer import write_netx

    path = write_netx(quantize_model(active_model("cnn"), input_max=1.0)[0], tmp_path / "c.net")
    with pytest.raises(GraphFormatError, match="a netx .net file"):
        read_graph(path)
    assert not isinstance(read_lava(path), LavaGraph)


def test_what_no_synapse_layer_can_express_is_refused():
    from torch import nn

    model = active_model("resnet20")
    model.head[0] = nn.MaxPool2d(2)  # max of spikes then a linear readout: not one linear map
    with pytest.raises(Exception, match="MaxPool2d"):
        quantize_graph(model, input_max=1.0)
    model = active_model("resnet20")
    model.spec.neuron.reset = "subtract"
    with pytest.raises(ExportError, match="reset=subtract"):
        quantize_graph(model, input_max=1.0)
    imagenet_stem = build_model(ModelSpec(arch="resnet18", kind="snn", T=4, width=4, num_classes=5,
                                          input_shape=[3, 64, 64]))  # conv, bn, act, max pooling
    with pytest.raises(ExportError, match=r"stem\.3 \(MaxPool2d\).*model\.stem 'cifar'"):
        quantize_graph(imagenet_stem, input_max=1.0)
