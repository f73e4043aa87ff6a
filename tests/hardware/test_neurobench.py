"""NeuroBench 2.3.0's own ``Benchmark``, run on neurokd models through the public adapter
(``neurokd.hardware.neurobench``), gives exactly the figures ``count()`` gives on the same inputs:
``Effective_ACs`` / ``Effective_MACs`` / ``Dense`` (``SynapticOperations``), ``ActivationSparsity`` and
``MembraneUpdates``.

Models run in float64: oneDNN's float32 Conv1d sums in a batch-size-dependent order on some CPUs, so the stepped
batch-of-B run and the folded ``[T*B]`` run could differ in the last bit; float64 convs are batch-invariant.
Batches are small so that NeuroBench's sums stay exact.
"""

import builtins

import pytest
import torch
from torch import nn

from neurokd.errors import UserError
from neurokd.hardware.counting import count
from neurokd.hardware.neurobench import (
    NeuronStep,
    SteppedSNN,
    neurobench_inputs,
    neurobench_model,
    run_neurobench,
)
from neurokd.models import ModelSpec, NeuronSpec, TwinNet, build_model
from neurokd.models.fold import inference_model
from tests.hardware.nets import if_neuron


def assert_same(ours, theirs: dict, n: int) -> None:
    syn = theirs["SynapticOperations"]
    # both are integer totals divided by n: compare the totals
    assert round(ours.synops * n) == round(syn["Effective_ACs"] * n)
    assert round(ours.macs * n) == round(syn["Effective_MACs"] * n)
    assert round(ours.dense * n) == round(syn["Dense"] * n)
    assert round(ours.membrane_updates * n) == round(theirs["MembraneUpdates"] * n)
    assert ours.neurobench()["ActivationSparsity"] == pytest.approx(theirs["ActivationSparsity"], rel=1e-12)


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
    model = prepared_twin(arch, shape, seed=3, **kw).double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, *shape, generator=g, dtype=torch.float64)
    x[x < 0.3] = 0  # zero inputs are skipped in effective MACs
    y = torch.randint(0, 10, (8,), generator=g)
    with torch.no_grad():
        stepped = SteppedSNN(model)(neurobench_inputs(model, x))
        assert torch.equal(stepped, model(x)), "the stepped wrapper must run the very same network"
    ours = count(model, (x, y))
    assert ours.synops > 0 and ours.macs > 0
    assert 0 < ours.membrane_updates < ours.neuron_updates  # resting neurons: NeuroBench skips them
    assert_same(ours, run_neurobench(model, (x, y), batch_size=4), len(x))


def test_grouped_dilated_circular_conv_matches_neurobench():
    T = 3
    torch.manual_seed(5)
    stem = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=2, dilation=2, groups=2, bias=True, padding_mode="circular"),
        if_neuron(T, threshold=0.3),
        nn.Conv2d(4, 6, 2, stride=1, padding=1, groups=2),
        if_neuron(T, threshold=0.3),
        nn.Flatten(),
    )
    with torch.no_grad():
        stem[0].weight[0, 0, 1, 1] = 0
        stem[2].weight[1, 0, 0, 0] = 0
    spec = ModelSpec(arch="cnn", kind="snn", T=T, num_classes=5, input_shape=[2, 7, 7])
    net = TwinNet(spec, stem, [], nn.Linear(6 * 5 * 5, 5)).eval()
    x = (torch.rand(8, 2, 7, 7) < 0.5).float()  # binary input: the first layer is counted as ACs too
    y = torch.zeros(8, dtype=torch.long)
    ours = count(net, (x, y))
    assert ours.synops > 0 and ours.macs == 0
    assert_same(ours, run_neurobench(net, (x, y), batch_size=4), len(x))


def test_event_sequences_and_an_ann_teacher_match_neurobench():
    """Event frames ``[T, B, ...]``: the SNN steps through them; the ANN sees their sum (what it trains on)."""
    snn = prepared_twin("cnn", [2, 8, 8], seed=1, width=8).double()
    ann = build_model(ModelSpec(arch="cnn", kind="ann", num_classes=10, input_shape=[2, 8, 8], width=8)).double()
    g = torch.Generator().manual_seed(2)
    frames = torch.randint(0, 3, (4, 8, 2, 8, 8), generator=g).double()  # event counts 0..2
    y = torch.randint(0, 10, (8,), generator=g)
    assert_same(count(snn, (frames, y)), run_neurobench(snn, (frames, y), batch_size=4), 8)
    ours = count(ann.eval(), (frames, y), spiking=False)
    theirs = run_neurobench(ann, (frames, y), batch_size=4)["SynapticOperations"]
    assert theirs["Effective_ACs"] == 0 and round(ours.macs * 8) == round(theirs["Effective_MACs"] * 8) > 0
    assert round(ours.dense * 8) == round(theirs["Dense"] * 8)


def test_neurobench_sees_every_spiking_layer_as_a_spiking_activation():
    model = prepared_twin("cnn", [1, 8, 8], seed=0, width=8)
    wrapped = neurobench_model(model)
    wrapped.register_hooks()
    hooks = wrapped.activation_hooks
    assert len(hooks) == sum(1 for _ in model.modules() if type(_).__name__ in ("LIF", "IF")) > 0
    assert all(isinstance(h.layer, NeuronStep) and h.spiking for h in hooks)
    wrapped.cleanup_hooks()


def test_missing_neurobench_is_one_clear_line(monkeypatch):
    real_import = builtins.__import__

    def no_neurobench(name, *args, **kwargs):
        if name == "neurobench" or name.startswith("neurobench."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_neurobench)
    with pytest.raises(UserError, match=r"pip install --no-deps neurobench==2\.3\.0"):
        neurobench_model(prepared_twin("cnn", [1, 8, 8], seed=0, width=8))
