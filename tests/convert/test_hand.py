"""Two-layer networks converted by hand: every spike and every scaled weight is known in advance."""

import torch
from torch import nn

from neurokd.convert.calibration import input_scale
from neurokd.convert.methods import convert_model
from neurokd.convert.scales import percentile_scales
from neurokd.data import ArrayDataset, DataSplits
from neurokd.models import ModelSpec
from neurokd.models.base import TwinNet
from neurokd.models.qcfs import QCFS
from neurokd.models.thresholds import apply_neuron_spec
from neurokd.snn.neurons import IF

W1 = [[1.0, 0.5], [-1.0, 2.0]]
B1 = [0.1, 0.0]
W2 = [[1.0, -1.0], [0.5, 0.5]]
B2 = [0.2, -0.1]
X = torch.tensor([[0.3, 0.85]])  # pre-activations z = W1 x + b1 = [0.825, 1.4]


def _linear(w, b) -> nn.Linear:
    m = nn.Linear(len(w[0]), len(w))
    with torch.no_grad():
        m.weight.copy_(torch.tensor(w))
        m.bias.copy_(torch.tensor(b))
    return m


def hand_ann(activation: nn.Module) -> TwinNet:
    """input [2] -> stage1: linear 2->2 + activation -> head: linear 2->2."""
    levels = activation.levels if isinstance(activation, QCFS) else 8
    spec = ModelSpec(arch="cnn", kind="ann", activation="qcfs" if isinstance(activation, QCFS) else "relu",
                     qcfs_levels=levels, num_classes=2, input_shape=[2])
    return TwinNet(spec, nn.Identity(), [nn.Sequential(_linear(W1, B1), activation)], nn.Sequential(_linear(W2, B2)))


def hand_snn(spec: ModelSpec) -> TwinNet:
    """The same layout with an IF neuron (the conversion's builder for this hand-made arch)."""
    n = spec.neuron
    act = IF(n.threshold, n.reset, T=spec.T)
    snn = TwinNet(spec, nn.Identity(), [nn.Sequential(nn.Linear(2, 2), act)], nn.Sequential(nn.Linear(2, 2)))
    apply_neuron_spec(snn, n)
    return snn


def _spikes(snn: TwinNet, x: torch.Tensor) -> torch.Tensor:
    out = []
    h = snn.stage1[1].register_forward_hook(lambda _m, _i, s: out.append(s))
    with torch.no_grad():
        logits = snn(x)
    h.remove()
    return out[0].reshape(snn.T, -1, 2)[:, 0], logits


def test_qcfs_two_layers_spike_for_spike():
    # lam = 2, L = 4: QCFS gives floor(z/2*4 + 1/2) = [2, 3] quanta of 0.5 -> [1.0, 1.5]; ANN logits [-0.3, 1.15]
    ann = hand_ann(QCFS(4, threshold=2.0))
    conv = convert_model(ann, 4, "qcfs", build=hand_snn)
    snn = conv.model
    assert conv.method == "qcfs" and conv.scales == {"stage1.1": 2.0} and conv.thresholds == {"stage1.1": 1.0}
    assert snn.spec.neuron.initial_membrane == 0.5 and snn.stage1[1].v_init == 0.5 and snn.stage1[1].reset == "subtract"
    torch.testing.assert_close(snn.stage1[0].weight, torch.tensor(W1) / 2)  # k = 1/lam, input scale 1
    torch.testing.assert_close(snn.stage1[0].bias, torch.tensor(B1) / 2)
    torch.testing.assert_close(snn.head[0].weight, torch.tensor(W2) * 2)  # one spike stands for lam = 2
    torch.testing.assert_close(snn.head[0].bias, torch.tensor(B2))
    # currents 0.4125, 0.7 from v0 = 0.5, threshold 1, subtract reset:
    #   0.9125, 1.325*, 0.7375, 1.15*      -> 2 spikes;   1.2*, 0.9, 1.6*, 1.3*  -> 3 spikes
    spikes, logits = _spikes(snn, X)
    assert spikes.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    with torch.no_grad():
        ann_logits = ann(X)
    torch.testing.assert_close(ann_logits, torch.tensor([[-0.3, 1.15]]))
    torch.testing.assert_close(logits, ann_logits)  # T = L: the SNN computes the QCFS ANN exactly here


def test_threshold_balance_two_layers_spike_for_spike():
    ann = hand_ann(nn.ReLU())
    calibration = torch.tensor([[0.3, 0.85], [1.0, 1.0]])  # positive activations 0.825, 1.4, 1.6, 1.0
    median = percentile_scales(ann, ["stage1.1"], [calibration], 50.0)["stage1.1"]
    assert abs(median - 1.2) < 1e-6  # numpy's linear percentile of the positive values: (1.0 + 1.4) / 2
    conv = convert_model(ann, 4, "threshold-balance", [calibration], percentile=100.0, build=hand_snn)
    snn = conv.model
    assert abs(conv.scales["stage1.1"] - 1.6) < 1e-6 and snn.stage1[1].v_init == 0.0
    # currents z/1.6 = 0.515625, 0.875 from v0 = 0:
    #   0.516, 1.031*, 0.547, 1.063*  -> 2 spikes;   0.875, 1.75*, 1.625*, 1.5*  -> 3 spikes
    spikes, logits = _spikes(snn, X)
    assert spikes.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]
    # time-mean logits: W2 (1.6 * rates) + b2 = W2 [0.8, 1.2] + b2
    torch.testing.assert_close(logits, torch.tensor([[-0.2, 0.9]]))


def test_event_frames_scale_the_first_layer_by_the_number_of_frames():
    """The ANN sees the sum of the T frames the SNN gets one per step: the SNN's input weights take T."""
    x = torch.zeros(2, 3)
    splits = DataSplits("events", ArrayDataset(x, torch.zeros(2)), None, None, 2, [3], time_bins=6)
    assert input_scale(splits) == 6.0
    assert input_scale(DataSplits("static", ArrayDataset(x, torch.zeros(2)), None, None, 2, [3])) == 1.0
    conv = convert_model(hand_ann(QCFS(4, threshold=2.0)), 6, "qcfs", input_scale=6.0, build=hand_snn)
    torch.testing.assert_close(conv.model.stage1[0].weight, torch.tensor(W1) * 6 / 2)
    torch.testing.assert_close(conv.model.stage1[0].bias, torch.tensor(B1) / 2)
    frames = torch.rand(6, 1, 2, generator=torch.Generator().manual_seed(0)) * 0.2
    with torch.no_grad():  # the first layer's mean current is the ANN's pre-activation (over lam)
        current = conv.model.stage1[0](frames).mean(0)
        torch.testing.assert_close(current, hand_ann(nn.ReLU()).stage1[0](frames.sum(0)) / 2)
