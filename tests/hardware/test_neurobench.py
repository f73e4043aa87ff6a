"""Counts agree exactly with NeuroBench 2.3.0's ``SynapticOperations`` (an independent, widely used definition
of effective ACs / MACs) on the same inputs.

NeuroBench hooks ``nn.Linear``/``nn.Conv*`` modules and sums over every forward call, so our time-folded SNN
is wrapped the way its docs ask: the time loop inside ``forward``, one call per step (``StepLoop``), the same
modules and weights. Batches are small so that NeuroBench's float32 sums stay exact.
"""

import copy

import pytest
import torch
from neurobench.benchmarks import Benchmark  # installed by `make setup` (neurobench==2.3.0, --no-deps)
from neurobench.metrics.workload import SynapticOperations
from neurobench.models import TorchModel
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neurokd.hardware.counting import count
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.fold import inference_model
from tests.hardware.nets import FoldedSNN, StepLoop, if_neuron


class TwinStepLoop(nn.Module):
    """A neurokd TwinNet stepped one time step per call: stateful neurons with T = 1."""

    def __init__(self, net):
        super().__init__()
        self.net = copy.deepcopy(net)
        self.net.set_T(1)
        self.net.set_stateful(True)

    def forward(self, x):  # x [B, T, ...]
        self.net.reset_state()
        out = 0
        for t in range(x.shape[1]):
            out = out + self.net.forward_body(x[:, t])
        return out / x.shape[1]


def neurobench_synops(stepper: nn.Module, x_seq: torch.Tensor, y: torch.Tensor) -> dict:
    loader = DataLoader(TensorDataset(x_seq, y), batch_size=4)
    bench = Benchmark(TorchModel(stepper), loader, [], [], [[], [SynapticOperations]])
    return bench.run(quiet=True)["SynapticOperations"]


def assert_same(ours, theirs: dict, n: int) -> None:
    # both are integer totals divided by n: compare the totals
    assert round(ours.synops * n) == round(theirs["Effective_ACs"] * n)
    assert round(ours.macs * n) == round(theirs["Effective_MACs"] * n)
    assert round(ours.dense * n) == round(theirs["Dense"] * n)


def prepared_twin(arch: str, shape: list[int], seed: int, **spec_kw):
    torch.manual_seed(seed)
    spec = ModelSpec(arch=arch, kind="snn", T=4, num_classes=10, input_shape=shape,
                     neuron=NeuronSpec(threshold=0.5), **spec_kw)
    model = build_model(spec)
    model.train()
    with torch.no_grad():  # BatchNorm statistics, so that folding gives active layers
        for _ in range(2):
            model(torch.rand(16, *shape))
    model = inference_model(model)
    with torch.no_grad():  # prune: zero weights must be skipped by both counters
        for m in model.modules():
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear):
                m.weight[m.weight.abs() < 0.5 * m.weight.abs().median()] = 0
    return model


@pytest.mark.parametrize("arch,shape,kw", [
    ("cnn", [1, 8, 8], {"width": 16}),  # digits-shaped; stride-2 convs with padding
    ("cnn1d", [1, 40], {"width": 8}),  # Conv1d
    ("resnet20", [3, 8, 8], {"width": 8}),  # residual adds, 1x1 downsample convs, average pooling -> MACs
    ("resnet1d", [1, 40], {"width": 8}),  # the same in 1-D
])
def test_twin_counts_match_neurobench(arch, shape, kw):
    # float64: oneDNN's float32 Conv1d sums in a batch-size-dependent order on some CPUs, so the stepped
    # batch-of-B run and the folded [T*B] run could differ in the last bit; float64 convs are batch-invariant
    model = prepared_twin(arch, shape, seed=3, **kw).double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, *shape, generator=g, dtype=torch.float64)
    x[x < 0.3] = 0  # zero inputs are skipped in effective MACs
    y = torch.randint(0, 10, (8,), generator=g)
    stepper = TwinStepLoop(model)
    x_seq = x.unsqueeze(1).expand(-1, model.T, *shape).contiguous()
    with torch.no_grad():
        assert torch.equal(stepper(x_seq), model(x)), "the stepped wrapper must run the very same network"
    ours = count(model, (x, y))
    assert ours.synops > 0 and ours.macs > 0
    assert_same(ours, neurobench_synops(stepper, x_seq, y), len(x))


def test_grouped_dilated_circular_conv_matches_neurobench():
    T = 3
    torch.manual_seed(5)
    body = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=2, dilation=2, groups=2, bias=True, padding_mode="circular"),
        if_neuron(T, threshold=0.3),
        nn.Conv2d(4, 6, 2, stride=1, padding=1, groups=2),
        if_neuron(T, threshold=0.3),
        nn.Flatten(),
        nn.Linear(6 * 5 * 5, 5),
    )
    with torch.no_grad():
        body[0].weight[0, 0, 1, 1] = 0
        body[2].weight[1, 0, 0, 0] = 0
    net = FoldedSNN(body, T).eval()
    x = (torch.rand(8, 2, 7, 7) < 0.5).float()  # binary input: the first layer is counted as ACs too
    y = torch.zeros(8, dtype=torch.long)
    stepper = StepLoop(body, T)
    x_seq = x.unsqueeze(1).expand(-1, T, 2, 7, 7).contiguous()
    with torch.no_grad():
        assert torch.equal(stepper(x_seq), net(x))
    ours = count(net, (x, y), T=T, spiking=True)
    assert ours.synops > 0
    assert_same(ours, neurobench_synops(stepper, x_seq, y), len(x))
