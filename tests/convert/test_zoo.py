"""Every zoo architecture converts, and at large T the SNN computes what its ANN computes."""

import pytest
import torch

from neurokd.convert.methods import convert_model
from neurokd.convert.topology import topology
from neurokd.errors import UserError
from neurokd.models import build_model
from neurokd.models.qcfs import QCFS
from neurokd.models.thresholds import spiking_layer_names
from neurokd.snn.neurons import LIF
from tests.convert.conftest import zoo_ann

FAST = [("cnn", [1, 8, 8], None), ("cnn1d", [1, 40], None), ("resnet1d", [1, 40], 8), ("resnet20", [3, 16, 16], 8)]
SLOW = [("vgg11", [3, 32, 32], 8), ("vgg13", [3, 32, 32], 8), ("vgg16", [3, 32, 32], 8),
        ("resnet18", [3, 16, 16], 8), ("resnet19", [3, 16, 16], 8), ("resnet34", [3, 16, 16], 4)]
CASES = FAST[:3] + [pytest.param(*c, marks=pytest.mark.slow) for c in FAST[3:] + SLOW]


@pytest.mark.parametrize("arch,shape,width", CASES)
def test_converted_snn_agrees_with_its_ann_at_large_T(arch, shape, width):
    ann = zoo_ann(arch, shape, width)
    calibration = torch.rand(64, *shape, generator=torch.Generator().manual_seed(1))
    x = torch.rand(32, *shape, generator=torch.Generator().manual_seed(2))
    snn = convert_model(ann, 256, "threshold-balance", [calibration]).model
    with torch.no_grad():
        a, s = ann(x), snn(x)
    agree = (a.argmax(1) == s.argmax(1)).float().mean().item()
    assert agree >= 0.9, f"{arch}: converted SNN agrees with its ANN on {agree:.0%} of samples"
    assert ((a - s).abs().max() / a.abs().max()).item() < 0.2
    # a normal SNN twin: the zoo builds the same network from the spec the conversion wrote
    rebuilt = build_model(snn.spec)
    rebuilt.load_state_dict(snn.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), s)


@pytest.mark.parametrize("arch,shape,width", FAST)
def test_qcfs_thresholds_come_from_the_learned_ones_and_the_membrane_starts_at_half(arch, shape, width):
    ann = zoo_ann(arch, shape, width, activation="qcfs", qcfs_levels=4)
    qcfs = [(n, m) for n, m in ann.named_modules() if isinstance(m, QCFS)]
    for i, (_n, m) in enumerate(qcfs):  # as if learned: a different threshold per layer
        m.threshold.data.fill_(1.0 + 0.25 * i)
    lam = {n: float(m.threshold.detach()) for n, m in qcfs}
    conv = convert_model(ann, 4, "auto")
    names = spiking_layer_names(conv.model)
    assert conv.method == "qcfs" and conv.levels == 4 and list(conv.thresholds) == names == list(lam)
    assert conv.scales == lam
    shortcuts = topology(ann).shortcuts
    for n in names:  # lam_a / lam_src behind an identity shortcut, else 1
        assert conv.thresholds[n] == pytest.approx(lam[n] / lam[shortcuts[n]] if n in shortcuts else 1.0)
    neurons = [m for m in conv.model.modules() if isinstance(m, LIF)]
    assert all(m.v_init == 0.5 * m.threshold and m.reset == "subtract" and m.beta == 1.0 for m in neurons)


def test_identity_shortcuts_set_per_layer_thresholds():
    ann = zoo_ann("resnet1d", [1, 40], 8)
    calibration = torch.rand(64, 1, 40, generator=torch.Generator().manual_seed(1))
    conv = convert_model(ann, 8, "threshold-balance", [calibration])
    topo = topology(ann)
    assert topo.shortcuts == {"stage1.0.act2": "stem.2", "stage1.1.act2": "stage1.0.act2",
                              "stage2.1.act2": "stage2.0.act2",
                              "stage3.1.act2": "stage3.0.act2", "stage4.1.act2": "stage4.0.act2"}
    for act, src in topo.shortcuts.items():
        assert conv.thresholds[act] == pytest.approx(conv.scales[act] / conv.scales[src])
    assert conv.thresholds["stage2.0.act2"] == 1.0  # a projection shortcut (1x1 conv) is weighted: threshold 1


def test_max_pooling_is_refused_naming_the_layer():
    ann = zoo_ann("resnet18", [3, 64, 64], 8)  # inputs >= 64 px: the imagenet stem with max pooling
    with pytest.raises(UserError, match=r"cannot convert stem\.3 \(MaxPool2d\): max pooling is not rate-preserving"):
        convert_model(ann, 8, "threshold-balance", [torch.rand(4, 3, 64, 64)])


def test_qcfs_needs_a_qcfs_teacher_and_threshold_balance_needs_data():
    ann = zoo_ann("cnn", [1, 8, 8])
    with pytest.raises(UserError, match="model.activation qcfs"):
        convert_model(ann, 4, "qcfs")
    with pytest.raises(UserError, match="calibration inputs"):
        convert_model(ann, 4, "threshold-balance")
    snn = convert_model(ann, 4, "auto", [torch.rand(8, 1, 8, 8)]).model
    with pytest.raises(UserError, match="needs a zoo ANN twin"):
        convert_model(snn, 4, "auto", [torch.rand(8, 1, 8, 8)])


def test_threshold_balance_can_start_at_half_the_threshold():
    ann = zoo_ann("cnn", [1, 8, 8])
    calibration = [torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))]
    plain = convert_model(ann, 4, "threshold-balance", calibration).model
    shifted = convert_model(ann, 4, "threshold-balance", calibration, initial_membrane=0.5).model
    assert plain.spec.neuron.initial_membrane == 0.0 and shifted.spec.neuron.initial_membrane == 0.5
    assert all(m.v_init == 0.5 * m.threshold > 0 for m in shifted.modules() if isinstance(m, LIF))
    assert torch.equal(plain.stage1[0].weight, shifted.stage1[0].weight)  # same weights, another start
