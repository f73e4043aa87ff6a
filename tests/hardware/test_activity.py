"""Activity hooks: per-layer inputs/outputs per time step, without changing results."""

import torch
from torch import nn

from neurokd.hardware.activity import ActivityHooks, record_activity
from neurokd.models import ModelSpec, build_model
from neurokd.snn import lif_sequence
from neurokd.snn.surrogate import get_surrogate


def spiking_cnn(T=3):
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="cnn", kind="snn", T=T, width=8, num_classes=10, input_shape=[1, 8, 8]))
    model.eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(3)
    return model


def test_recorded_activity_is_per_time_step_and_consistent():
    model = spiking_cnn(T=3)
    x = torch.rand(5, 1, 8, 8)
    acts = record_activity(model, [x[:2], x[2:]])
    with torch.no_grad():
        logits = model(x)
    # the head's per-step outputs, averaged over T, are the model's logits (bit for bit)
    head = acts["head.1"]
    assert head.outputs.shape == (3, 5, 10) and torch.equal(head.outputs.mean(0), logits)
    # a neuron layer's recorded output is its own dynamics applied to its recorded input, step by step
    lif = acts["stage2.2"]
    spikes, _ = lif_sequence(lif.inputs, 0.5, 1.0, "zero", get_surrogate("atan"))
    assert lif.kind == "neuron" and torch.equal(spikes, lif.outputs)
    # the next connection layer receives exactly those spikes, unfolded to [T, B, ...]
    assert torch.equal(acts["stage3.0"].inputs, lif.outputs)
    assert set(acts) == {"stage1.0", "stage1.2", "stage2.0", "stage2.2", "stage3.0", "stage3.2", "head.1"}


def test_hooks_do_not_change_outputs_and_are_removed():
    model = spiking_cnn()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        plain = model(x)
        events = []
        with ActivityHooks(model, events.append) as hooks:
            hooked = model(x)
        after = model(x)
    assert torch.equal(plain, hooked) and torch.equal(plain, after)
    assert [e.name for e in events] == [n for n, _m, _k in hooks.layers()]
    assert all(e.x.shape[0] == 3 and e.x.shape[1] == 4 for e in events)  # [T, B, ...]
    assert all(not m._forward_hooks for m in model.modules())


def test_spike_tags_follow_views_and_are_voided_by_in_place_changes():
    from neurokd.hardware.activity import _is_marked, _mark_spikes

    s = (torch.rand(6, 4) < 0.5).float().reshape(6, 2, 2)  # a view, like a LIF output
    _mark_spikes(s)
    assert _is_marked(s) and _is_marked(s.flatten(1)) and not _is_marked(s * 1.0)
    s.mul_(0.5)  # no longer spikes
    assert not _is_marked(s) and not _is_marked(s.flatten(1))
