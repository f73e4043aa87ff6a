"""Hand-computed operation counts on tiny networks, and exactness against a brute-force definition."""

import itertools

import pytest
import torch
from torch import nn

from neurokd.hardware.counting import count, is_binary
from neurokd.models import ModelSpec, build_model
from tests.hardware.nets import FoldedSNN, if_neuron, set_weight


def conv_net(conv: nn.Module, T: int = 1) -> FoldedSNN:
    return FoldedSNN(nn.Sequential(conv), T)


def test_conv_padding_and_stride_edge_effects_by_hand():
    # 4x4 input, 3x3 kernel, stride 2, padding 1 -> 2x2 output. Valid window sizes (zero padding excluded):
    # out(0,0): rows/cols -1..1 -> 2x2 = 4; out(0,1) and out(1,0): 2x3 = 6; out(1,1): 3x3 = 9. Sum 25 per out
    # channel, 2 out channels -> 50 dense operations.
    conv = set_weight(nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False), torch.ones(2, 1, 3, 3))
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1  # seen by out(0,0) through kernel tap (1,1) only
    x[0, 0, 3, 3] = 1  # seen by out(1,1) through kernel tap (2,2) only
    c = count(conv_net(conv), x, T=1, spiking=True)
    assert c.dense == 50
    assert c.synops == 2 * 2 and c.macs == 0  # 2 spikes x 2 output channels
    with torch.no_grad():
        conv.weight[0, 0, 2, 2] = 0  # prune the tap joining x[3,3] to out(1,1) in channel 0
    c = count(conv_net(conv), x, T=1, spiking=True)
    assert c.synops == 3
    assert c.dense == 50  # dense counts pruned weights too
    assert c.layers[0].nonzero_weights == 17 and c.layers[0].weights == 18


def test_linear_with_pruned_weights_by_hand():
    w = [[1, 0, 2, 0],
         [0, 0, 3, 1],
         [4, 0, 0, 0]]  # nonzero weights per input column: 2, 0, 2, 1
    lin = set_weight(nn.Linear(4, 3, bias=True), w)
    x = torch.tensor([[1.0, 1.0, 0.0, 1.0],   # 2 + 0 + 1 = 3
                      [0.0, 0.0, 1.0, 1.0]])  # 2 + 1 = 3
    c = count(conv_net(lin), x, T=1, spiking=True)
    assert c.samples == 2
    assert c.synops == (3 + 3) / 2
    assert c.dense == 12  # 4 x 3 connections per sample
    assert c.layers[0].op == "AC"


def test_average_pooling_then_conv_counts_macs():
    # spikes -> 2x2 average pooling (values 0, .25, .5, .75, 1: not binary) -> 1x1 conv: MACs, one per nonzero
    # pooled value and nonzero weight.
    x = torch.tensor([[[[1, 0, 0, 0],
                        [0, 0, 0, 0],
                        [1, 1, 0, 0],
                        [1, 1, 0, 1]]]], dtype=torch.float32)  # pooled: [[.25, 0], [1, .25]] -> 3 nonzero
    conv = set_weight(nn.Conv2d(1, 2, 1, bias=False), [3.0, -1.0])
    net = FoldedSNN(nn.Sequential(nn.AvgPool2d(2), conv), T=1)
    c = count(net, x, T=1, spiking=True)
    assert c.layers[0].op == "MAC"
    assert c.macs == 3 * 2 and c.synops == 0
    assert c.mac_layers == ["body.1"]


def test_firing_rate_bookkeeping_over_T():
    # IF neurons (threshold 1, reset to zero), constant input currents 0.6 and 1.5 over T = 3 steps:
    # 0.6: h = 0.6, 1.2 (spike, v = 0), 0.6  -> spikes 0, 1, 0
    # 1.5: spike at every step               -> spikes 1, 1, 1
    T = 3
    enc = set_weight(nn.Linear(1, 2, bias=False), [[1.2], [3.0]])  # x = 0.5 -> currents 0.6, 1.5
    head = set_weight(nn.Linear(2, 1, bias=False), [[1.0, 0.0]])  # one weight pruned
    net = FoldedSNN(nn.Sequential(enc, if_neuron(T), head), T)
    c = count(net, torch.full((4, 1), 0.5), T=T, spiking=True)
    enc_c, neu, head_c = c.layers
    assert enc_c.op == "MAC" and enc_c.macs_per_step == [2.0, 2.0, 2.0] and enc_c.macs == 6
    assert neu.spikes_per_step == [1.0, 2.0, 1.0]
    assert neu.spikes == 4 and neu.neurons == 2 and neu.neuron_updates == 6
    # NeuroBench's MembraneUpdates: both at t=1; then neuron 0's membrane 0.6 -> 0 -> 0.6 changes twice, neuron
    # 1 fires and resets to 0 at every step, so its membrane never changes again: 2 + 2 + 0
    assert neu.membrane_updates == 4 and c.membrane_updates == 4
    assert neu.firing_rate == pytest.approx(4 / 6, abs=0) and neu.firing_rate_per_step == [0.5, 1.0, 0.5]
    # the head only pays for neuron 0's spikes (neuron 1's weight is pruned)
    assert head_c.op == "AC" and head_c.acs_per_step == [0.0, 1.0, 0.0] and head_c.acs == 1
    assert c.synops == 1 and c.macs == 6 and c.firing_rate == 4 / 6
    assert c.dense == 3 * (2 + 2)


def brute_force_pairs(x: torch.Tensor, conv: nn.Conv2d) -> int:
    """Independent definition: loop over outputs, kernel taps and input channels of a group."""
    n, cin, H, W = x.shape
    w = conv.weight
    cout, cg = w.shape[0], w.shape[1]
    kh, kw = w.shape[2:]
    (sh, sw), (ph, pw), (dh, dw), g = conv.stride, conv.padding, conv.dilation, conv.groups
    oh = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    total = 0
    for b, o, i, j in itertools.product(range(n), range(cout), range(oh), range(ow)):
        group = o // (cout // g)
        for ci, a, e in itertools.product(range(cg), range(kh), range(kw)):
            r, s = i * sh - ph + a * dh, j * sw - pw + e * dw
            if 0 <= r < H and 0 <= s < W and w[o, ci, a, e] != 0 and x[b, group * cg + ci, r, s] != 0:
                total += 1
    return total


@pytest.mark.parametrize("k,stride,pad,dil,groups", [(3, 1, 1, 1, 1), (3, 2, 1, 1, 2), (2, 2, 0, 1, 1),
                                                     (3, 1, 2, 2, 4), (5, 3, 2, 1, 2), (1, 2, 0, 1, 4)])
def test_conv_counts_equal_brute_force(k, stride, pad, dil, groups):
    g = torch.Generator().manual_seed(k * 100 + stride * 10 + groups)
    conv = nn.Conv2d(4, 8, k, stride, pad, dil, groups, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.weight[torch.rand(conv.weight.shape, generator=g) < 0.3] = 0
    x = (torch.rand(3, 4, 7, 6, generator=g) < 0.4).float()
    c = count(conv_net(conv), x, T=1, spiking=True)
    assert c.synops * 3 == brute_force_pairs(x, conv)
    assert c.dense * 3 == brute_force_pairs(torch.ones_like(x), set_weight(conv, torch.ones_like(conv.weight)))


def test_is_binary_and_package_exports():
    assert is_binary(torch.tensor([0.0, 1.0, -1.0, 1.0]))
    assert not is_binary(torch.tensor([0.0, 0.5])) and not is_binary(torch.tensor([2.0, 1.0]))
    import neurokd.hardware

    assert neurokd.hardware.count is count


def test_counting_does_not_change_outputs():
    torch.manual_seed(0)
    spec = ModelSpec(arch="cnn", kind="snn", T=4, width=8, num_classes=10, input_shape=[1, 8, 8])
    model = build_model(spec).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(3)  # make it spike
    x = torch.rand(16, 1, 8, 8)
    with torch.no_grad():
        before = model(x)
    c = count(model, (x, before.argmax(1)))
    with torch.no_grad():
        after = model(x)
    assert torch.equal(before, after)
    assert c.accuracy == 1.0  # the counted forward passes produced exactly the unhooked logits' argmax
    assert c.spikes > 0 and c.synops > 0
    assert model.training is False


def test_count_batches_equals_count_whole():
    torch.manual_seed(1)
    spec = ModelSpec(arch="cnn", kind="snn", T=2, width=8, num_classes=10, input_shape=[1, 8, 8])
    model = build_model(spec).eval()
    x = torch.rand(10, 1, 8, 8)
    whole = count(model, x)
    parts = count(model, [x[:3], x[3:7], x[7:]])
    assert parts.samples == whole.samples == 10
    assert parts.synops == pytest.approx(whole.synops, rel=1e-12) and parts.macs == pytest.approx(whole.macs, rel=1e-12)
    capped = count(model, [x[:3], x[3:7], x[7:]], max_samples=5)
    assert capped.samples == 5


def test_ann_counts_are_macs():
    spec = ModelSpec(arch="cnn", kind="ann", width=8, num_classes=10, input_shape=[1, 8, 8])
    model = build_model(spec).eval()
    c = count(model, torch.rand(4, 1, 8, 8))
    assert c.network == "ann" and c.T == 1 and c.synops == 0
    assert c.macs > 0 and c.macs <= c.dense
    # dense MACs of the cnn: conv1 1->8 on 8x8 (pad 1): 8 * 22 * 22; conv2 8->16 s2 on 8x8 -> 4x4; conv3 16->32
    # s2 on 4x4 -> 2x2; linear 128 -> 10
    conv1 = 8 * 22 * 22
    conv2 = 16 * 8 * (3 + 3 + 3 + 2) ** 2  # rows seen by the 4 output rows: 2, 3, 3, 3 -> 11 per axis
    conv3 = 32 * 16 * (2 + 3) ** 2  # output rows 0, 1 see 2 and 3 input rows
    assert c.dense == conv1 + conv2 + conv3 + 128 * 10


def _spiking(arch: str):
    """An untrained twin whose BatchNorm biases make every layer spike (so pooled inputs are non-binary)."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch=arch, kind="snn", T=2, width=4, num_classes=10, input_shape=[3, 32, 32]))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.fill_(0.6)
    return model.eval()


@pytest.mark.parametrize("arch, pooled", [
    ("resnet20", ["head.2"]),
    ("vgg11", ["stage2.0", "stage3.0", "stage4.0", "stage5.0", "head.1"]),  # avgpool ends each stage
])
def test_layers_fed_by_average_pooling_are_labelled_after_pooling(arch, pooled):
    counts = count(_spiking(arch), torch.rand(2, 3, 32, 32))
    roles = counts.mac_layer_roles()
    assert roles == {"stem.0" if arch == "resnet20" else "stage1.0": "encoding layer: analog input",
                     **{name: "after pooling" for name in pooled}}
    assert {lc.name: lc.input_from for lc in counts.layers if lc.name in pooled} == {n: "pool" for n in pooled}
    assert any("head" in n and "after pooling" in n for n in counts.notes)
