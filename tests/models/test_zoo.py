"""Twin models: every architecture builds as ANN and SNN with the same parameter names."""

import pytest
import torch
from torch import nn

from neurokd.models import ModelSpec, NeuronSpec, build_model, count_parameters
from neurokd.models.fold import fold_batchnorm
from neurokd.models.resnet import BasicBlock
from neurokd.snn import LIF

CASES = [
    ("cnn", [1, 8, 8], 3),
    ("cnn1d", [1, 40], 3),
    ("vgg11", [3, 32, 32], 5),
    ("vgg13", [3, 32, 32], 5),
    ("vgg16", [3, 32, 32], 5),
    ("resnet18", [3, 32, 32], 4),
    ("resnet34", [3, 32, 32], 4),
    ("resnet19", [3, 32, 32], 3),
    ("resnet20", [3, 32, 32], 3),
    ("resnet1d", [1, 40], 4),
]


def _pair(arch, shape, T=2, **kw):
    ann = build_model(ModelSpec(arch=arch, kind="ann", num_classes=7, input_shape=shape, **kw))
    snn = build_model(ModelSpec(arch=arch, kind="snn", num_classes=7, input_shape=shape, T=T, **kw))
    return ann, snn


@pytest.mark.parametrize("arch,shape,stages", CASES)
def test_twins_share_parameter_names_and_shapes(arch, shape, stages):
    ann, snn = _pair(arch, shape)
    a, s = ann.state_dict(), snn.state_dict()
    assert a.keys() == s.keys()
    assert all(a[k].shape == s[k].shape for k in a)
    snn.load_state_dict(a)  # a teacher initialises a student
    assert ann.stage_names == snn.stage_names == [f"stage{i}" for i in range(1, stages + 1)]
    x = torch.rand(2, *shape)
    assert ann(x).shape == (2, 7)
    assert snn(x).shape == (2, 7)
    assert not any(isinstance(m, LIF) for m in ann.modules())
    assert sum(isinstance(m, LIF) for m in snn.modules()) > 0


def test_snn_logits_are_the_mean_of_per_step_logits():
    _, snn = _pair("cnn", [1, 8, 8], T=4)
    x = torch.rand(3, 1, 8, 8)
    seq = snn.forward_seq(x)
    assert seq.shape == (4, 3, 7)
    torch.testing.assert_close(snn(x), seq.mean(0))


def test_snn_accepts_a_time_major_sequence_and_checks_T():
    _, snn = _pair("cnn", [1, 8, 8], T=3)
    x = torch.rand(3, 2, 1, 8, 8)
    assert snn(x).shape == (2, 7)
    with pytest.raises(ValueError, match="T=3"):
        snn(torch.rand(5, 2, 1, 8, 8))
    with pytest.raises(ValueError, match="expected input"):
        snn(torch.rand(2, 8, 8))


def test_set_T_changes_every_neuron():
    _, snn = _pair("resnet20", [3, 16, 16], T=2)
    snn.set_T(5)
    assert {m.T for m in snn.modules() if isinstance(m, LIF)} == {5}
    assert snn.forward_seq(torch.rand(1, 3, 16, 16)).shape[0] == 5


def test_torchvision_block_names_and_imagenet_stem():
    ann = build_model(ModelSpec(arch="resnet18", kind="ann", num_classes=10, input_shape=[3, 64, 64]))
    keys = set(ann.state_dict())
    assert {"stage1.0.conv1.weight", "stage2.0.downsample.0.weight", "stage4.1.bn2.running_var"} <= keys
    assert isinstance(ann.stem[0], nn.Conv2d) and ann.stem[0].kernel_size == (7, 7)
    assert isinstance(ann.stem[3], nn.MaxPool2d)


def test_vgg_stride_mode_has_no_pooling():
    _, snn = _pair("vgg11", [3, 32, 32], downsample="stride")
    assert not any(isinstance(m, nn.AvgPool2d | nn.AdaptiveAvgPool2d) for m in snn.modules())
    assert snn(torch.rand(1, 3, 32, 32)).shape == (1, 7)


def test_neuron_spec_is_applied():
    spec = ModelSpec(arch="cnn", kind="snn", num_classes=10, input_shape=[1, 8, 8], T=2,
                     neuron=NeuronSpec(type="if", reset="subtract", surrogate="triangle", threshold=0.5))
    m = build_model(spec)
    n = next(x for x in m.modules() if isinstance(x, LIF))
    assert (n.beta, n.reset, n.threshold, n.surrogate.name) == (1.0, "subtract", 0.5, "triangle")


@pytest.mark.parametrize("arch,shape", [("cnn1d", [1, 8, 8]), ("resnet1d", [1, 8, 8]), ("resnet20", [1, 40])])
def test_build_rejects_wrong_input_rank(arch, shape):
    with pytest.raises(ValueError, match="input_shape"):
        build_model(ModelSpec(arch=arch, kind="ann", num_classes=10, input_shape=shape))


def test_resnet1d_layout():
    """ResNet-18's 4 x 2 BasicBlocks in 1-D: widths w..8w, length 40 -> 40/20/10/5, a flatten + linear head."""
    ann = build_model(ModelSpec(arch="resnet1d", kind="ann", num_classes=10, input_shape=[1, 40]))
    x = torch.rand(2, 1, 40)
    shapes, h = [], ann.stem(x)
    for _name, stage in ann.stages():
        assert len(stage) == 2 and all(isinstance(b, BasicBlock) for b in stage)
        h = stage(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(16, 40), (32, 20), (64, 10), (128, 5)]
    assert isinstance(ann.stem[0], nn.Conv1d) and ann.stem[0].kernel_size == (5,)
    assert [type(m) for m in ann.head] == [nn.Flatten, nn.Linear]
    assert ann.stage2[0].downsample is not None and ann.stage1[0].downsample is None
    assert count_parameters(ann) == 248_506
    assert not any(isinstance(m, nn.Conv2d | nn.BatchNorm2d) for m in ann.modules())
    wide = build_model(ModelSpec(arch="resnet1d", kind="ann", width=8, num_classes=10, input_shape=[1, 40]))
    assert wide.stage4[1].conv2.out_channels == 64


@pytest.mark.parametrize("arch,shape", [("cnn", [1, 8, 8]), ("resnet20", [3, 16, 16]), ("cnn1d", [1, 40]),
                                        ("resnet1d", [1, 40])])
def test_batchnorm_folding_preserves_outputs(arch, shape):
    ann, snn = _pair(arch, shape, T=3)
    for m in ann.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    ann.eval()
    x = torch.rand(4, *shape)
    folded = fold_batchnorm(ann)
    assert not any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded(x), ann(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("encoder", ["direct", "poisson"])
def test_input_chunks_concatenate_to_the_encoded_input(encoder):
    """Chunks of 2 + 2 + 1 steps, concatenated, are encode_input's [T*B, ...] (Poisson: the same draws); a
    [T, B, ...] sequence is cut along time."""
    spec = ModelSpec(arch="cnn", kind="snn", num_classes=3, input_shape=[1, 8, 8], T=5, encoder=encoder)
    model = build_model(spec)
    x = torch.rand(4, 1, 8, 8)
    torch.manual_seed(2)
    ref = model.encode_input(x)
    torch.manual_seed(2)
    chunks = model.input_chunks(x, [2, 2, 1])
    assert [c.shape[0] for c in chunks] == [8, 8, 4]
    assert torch.equal(torch.cat(chunks), ref)
    seq = torch.rand(5, 4, 1, 8, 8)
    assert torch.equal(torch.cat(model.input_chunks(seq, [3, 2])), model.encode_input(seq))
    with pytest.raises(ValueError, match="steps but the model runs T=5"):
        model.input_chunks(seq[:4], [2, 2])
