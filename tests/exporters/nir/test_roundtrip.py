"""Every zoo SNN -> NIR file -> ``from_nir``: identical spike trains, spike for spike, on the same inputs.

The imported network is compared with the BN-folded model (folding changes float rounding; folded vs unfolded
agreement is measured separately below). Inputs are real digits for the trained ``cnn``; the other
architectures use seeded random inputs and BN calibrated so that every layer fires (asserted).
"""

import nir
import pytest
import torch
from torch import nn

from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.data import load_dataset
from neurokd.exporters.nir import compare_spikes, from_nir, read, record_spikes, save, to_nir
from neurokd.exporters.nir.verify import calibrate_activity
from neurokd.models.fold import fold_batchnorm
from neurokd.train import run_training
from tests.exporters.nir.helpers import assert_active, make_snn

ZOO = [
    # (arch, input shape, T, model kwargs)
    ("cnn1d", [1, 40], 4, {}),
    ("vgg11", [3, 32, 32], 4, {"width": 8}),
    ("vgg11", [3, 32, 32], 3, {"width": 8, "downsample": "stride"}),
    ("vgg13", [3, 32, 32], 2, {"width": 4}),
    ("vgg16", [3, 32, 32], 2, {"width": 4}),
    ("resnet18", [3, 16, 16], 3, {"width": 8}),
    ("resnet19", [3, 16, 16], 3, {"width": 16}),
    ("resnet20", [3, 16, 16], 4, {}),
    ("resnet34", [3, 16, 16], 2, {"width": 8}),
    ("resnet1d", [1, 40], 3, {"width": 8}),  # Conv1d residual blocks, flatten head
    ("cnn", [1, 8, 8], 4, {"type": "if"}),
    ("cnn", [1, 8, 8], 4, {"reset": "subtract", "beta": 0.75}),
    ("resnet20", [3, 8, 8], 2, {"learn_beta": True, "beta": 0.8, "threshold": 0.75}),
]


def _roundtrip(model, tmp_path, x):
    path = save(to_nir(model), tmp_path / "model.nir")
    net = from_nir(path)
    report = compare_spikes(fold_batchnorm(model), net, x)
    return net, report


@pytest.mark.parametrize("arch,shape,T,kw", ZOO, ids=[f"{a}-{'-'.join(f'{k}{v}' for k, v in kw.items())}"
                                                       for a, _s, _t, kw in ZOO])
def test_zoo_roundtrip_is_spike_exact(arch, shape, T, kw, tmp_path, recwarn):
    torch.manual_seed(0)
    model = make_snn(arch, shape, T, **kw)
    x = torch.rand(8, *shape, generator=torch.Generator().manual_seed(1))
    calibrate_activity(model, x)
    _out, spikes = record_spikes(fold_batchnorm(model), x)
    assert_active(spikes)
    net, report = _roundtrip(model, tmp_path, x)
    assert report["spike_equal"], report
    assert report["output_equal"], report
    assert report["layers"] == len(spikes) and report["missing"] == []
    # the logits (time-mean readout) agree exactly too
    assert torch.equal(net.logits(x), fold_batchnorm(model)(x))


@pytest.fixture(scope="module")
def digits_snn(tmp_path_factory):
    """A cnn SNN trained on digits for a few epochs (the real pipeline), and the digits test inputs."""
    cfg = build_config(RunConfig, overrides={
        "name": "snn", "out_dir": str(tmp_path_factory.mktemp("runs")), "data.name": "digits", "model.arch": "cnn",
        "model.kind": "snn", "model.T": 4, "model.width": 16, "optim.epochs": 4, "train.progress": False,
        "train.threads": 1})
    splits = load_dataset(cfg.data)
    result = run_training(cfg, splits=splits)
    x, y = splits.test.get_batch(torch.arange(len(splits.test)))
    return result.model.eval(), x, y


def test_trained_digits_snn_roundtrip_is_spike_exact(digits_snn, tmp_path):
    model, x, y = digits_snn
    net, report = _roundtrip(model, tmp_path, x)
    assert report["spike_equal"] and report["output_equal"], report
    _out, spikes = record_spikes(net, x)
    assert_active(spikes, lo=0.001)
    acc_model = float((model(x).argmax(1) == y).float().mean())
    assert acc_model > 0.8  # trained, not a random net
    assert float((net.logits(x).argmax(1) == y).float().mean()) == pytest.approx(acc_model, abs=0.01)


def test_bn_folding_agrees_with_unfolded_model(tmp_path):
    """Folding BN is exact in real arithmetic; in float32 a few near-threshold spikes may flip. Measured here,
    separately from the (exact) NIR round trip."""
    for arch, shape, kw in [("cnn", [1, 8, 8], {}), ("vgg11", [3, 32, 32], {"width": 8}),
                            ("resnet20", [3, 16, 16], {})]:
        torch.manual_seed(0)
        model = make_snn(arch, shape, 4, **kw)
        x = torch.rand(16, *shape, generator=torch.Generator().manual_seed(2))
        calibrate_activity(model, x)
        r = compare_spikes(model, fold_batchnorm(model), x)
        agreement = 1 - r["mismatches"] / r["neurons_x_steps"]
        assert agreement >= 0.999, (arch, r)
        assert r["max_output_diff"] < 1e-3, (arch, r)


def test_graph_structure_and_metadata():
    model = make_snn("resnet20", [3, 16, 16], 4)
    g = to_nir(model, dt=1e-3)
    types = {name: type(node).__name__ for name, node in g.nodes.items()}
    # residual adds are fan-in edges into the block's output neuron: identity shortcut ...
    assert sorted(a for a, b in g.edges if b == "stage1_0_act2") == ["stage1_0_conv2", "stem_2"]
    # ... and the projection shortcut (1x1 conv, BN folded) of the first block of stage 2
    assert sorted(a for a, b in g.edges if b == "stage2_0_act2") == ["stage2_0_conv2", "stage2_0_downsample_0"]
    assert types["stage2_0_downsample_0"] == "Conv2d" and "stage2_0_downsample_1" not in types  # BN folded
    assert not any(t.startswith("BatchNorm") for t in types.values())
    assert types["head_0"] == "AvgPool2d" and types["head_1"] == "Flatten" and types["head_2"] == "Affine"
    assert g.metadata["dt"] == 1e-3 and g.metadata["T"] == 4 and g.metadata["encoding"] == "direct"
    assert g.metadata["reset"] == "zero" and g.metadata["readout"] == "mean_over_time"
    lif = g.nodes["stem_2"]
    assert lif.tau.shape == (16, 16, 16) and lif.tau.dtype == "float32"  # per-neuron, no batch
    assert g.nodes["stem_2"].metadata == {"neuron": "lif", "beta": 0.9, "threshold": 1.0, "reset": "zero",
                                          "dt": 1e-3}
    assert float(1 - 1e-3 / lif.tau.flat[0]) == pytest.approx(0.9, abs=1e-7)
    # torch Flatten(1) on [B, 64, 1, 1]: negative dims, the same with or without the batch
    assert (g.nodes["head_1"].start_dim, g.nodes["head_1"].end_dim) == (-3, -1)
    assert g.nodes["stem_0"].bias.shape == (16,)  # conv had no bias: BN folded into one


def test_file_roundtrip_preserves_metadata(tmp_path):
    model = make_snn("cnn", [1, 8, 8], 4, reset="subtract")
    with pytest.warns(UserWarning, match="subtractive reset"):
        g = to_nir(model)
    g2 = read(save(g, tmp_path / "m.nir"))
    assert nir.serialization.read_version(tmp_path / "m.nir") == "1.0.8"
    assert g2.nodes["stage1_2"].metadata["reset"] == "subtract"
    assert float(g2.metadata["dt"]) == 1e-4 and int(g2.metadata["T"]) == 4
    net = from_nir(g2)
    assert all(n.reset == "subtract" for n in net.neurons().values())
    assert net.T == 4 and net.input_shape == [1, 8, 8] and net.output_shape == [10]


def test_static_input_uses_recorded_T_and_encoding():
    torch.manual_seed(0)
    model = make_snn("cnn", [1, 8, 8], 3)
    net = from_nir(to_nir(model))
    x = torch.rand(5, 1, 8, 8)
    assert net(x).shape == (3, 5, 10)
    assert torch.equal(net(x), net(x.unsqueeze(0).expand(3, *x.shape)))
    with pytest.raises(ValueError, match="expected input"):
        net(torch.rand(5, 2, 8, 8))


@pytest.mark.parametrize("flatten,shape,nir_dims,out_shape", [
    (nn.Flatten(), [3, 4, 5], (-3, -1), [60]),
    (nn.Flatten(2), [3, 4, 5], (-2, -1), [3, 20]),
    (nn.Flatten(1, -2), [3, 4, 5], (-3, -2), [12, 5]),
    (nn.Flatten(-2, 3), [3, 4, 5], (-2, -1), [3, 20]),
])
def test_flatten_dims_are_negative_and_batch_agnostic(flatten, shape, nir_dims, out_shape, tmp_path):
    """Negative NIR dims: nir's own type inference agrees with torch, and our importer keeps the batch."""
    g = read(save(to_nir(nn.Sequential(flatten), shape), tmp_path / "f.nir"))
    node = g.nodes["0"]
    assert (node.start_dim, node.end_dim) == nir_dims
    assert node.output_type["output"].tolist() == out_shape == g.nodes["output"].input_type["input"].tolist()
    x = torch.rand(2, 3, *shape)
    assert torch.equal(from_nir(g)(x), x.reshape(6, *shape).flatten(flatten.start_dim, flatten.end_dim)
                       .reshape(2, 3, *out_shape))


def test_files_with_the_old_flatten_encoding_still_import(tmp_path):
    """Before negative dims we wrote torch Flatten(1) as NIR start_dim=0 (also snnTorch's exporter does): same
    network per the NIR spec, and our importer still runs it spike for spike, batched."""
    torch.manual_seed(0)
    model = make_snn("cnn", [1, 8, 8], 4)
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    calibrate_activity(model, x)
    g = to_nir(model)
    g.nodes["head_0"].start_dim = 0  # what earlier versions wrote
    net = from_nir(save(g, tmp_path / "old.nir"))
    assert read(tmp_path / "old.nir").nodes["head_0"].start_dim == 0
    report = compare_spikes(fold_batchnorm(model), net, x)
    assert report["spike_equal"] and report["output_equal"], report
