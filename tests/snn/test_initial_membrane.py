"""A neuron's initial membrane (``v_init``) and per-layer thresholds: every forward path starts from them."""

import pytest
import torch

from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.snn import IF, LIF, Triangle, lif_step
from neurokd.snn.functional import RateTrace, lif_rate_trace
from neurokd.snn.ratebp import rate_forward


def _loop(x, beta, threshold, reset, v0):
    v, out = torch.full_like(x[0], v0), []
    for t in range(x.shape[0]):
        s, v = lif_step(x[t], v, beta, threshold, reset, Triangle())
        out.append(s)
    return torch.stack(out), v


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("beta", [0.75, 1.0])
def test_forward_step_and_stream_start_from_v_init(reset, beta):
    x = torch.rand(6, 3, 5, generator=torch.Generator().manual_seed(0)) * 0.8
    n = LIF(beta, 1.5, reset, "triangle", v_init=0.75)
    ref, v_end = _loop(x, beta, 1.5, reset, 0.75)
    assert torch.equal(n(x), ref)
    assert not torch.equal(LIF(beta, 1.5, reset, "triangle")(x), ref)  # v_init matters on this input
    s0, v1 = n.step(x[0])
    assert torch.equal(s0, ref[0]) and torch.equal(v1, lif_step(x[0], torch.full_like(x[0], 0.75), beta, 1.5, reset,
                                                                   Triangle())[1])
    n.stateful = True  # streaming: v_init only at the start, then the carried membrane
    assert torch.equal(torch.cat([n(x[:2]), n(x[2:])]), ref) and torch.equal(n._v, v_end)
    n.reset_state()
    assert torch.equal(n(x), ref)


def test_rate_trace_starts_from_the_initial_membrane():
    x = torch.rand(5, 2, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    v0 = torch.full_like(x[0], 0.5)
    s = lif_rate_trace(x, RateTrace(False, v0), 1.0, 1.0, "subtract", Triangle())
    assert torch.equal(s, _loop(x, 1.0, 1.0, "subtract", 0.5)[0])
    # learnable decay: d h[0] / d beta = v[-1] = v0, so kappa_beta sees the initial membrane
    with_v0, without = RateTrace(True, v0), RateTrace(True)
    lif_rate_trace(x, with_v0, 0.8, 1.0, "subtract", Triangle())
    lif_rate_trace(x, without, 0.8, 1.0, "subtract", Triangle())
    assert not torch.equal(with_v0.finish()[2], without.finish()[2])


def _converted_like(T: int):
    neuron = NeuronSpec(type="if", reset="subtract", thresholds=[0.6, 0.9, 1.2], initial_membrane=0.5)
    return build_model(ModelSpec(arch="cnn", T=T, width=4, num_classes=3, input_shape=[1, 8, 8], neuron=neuron)).eval()


def test_spec_sets_per_layer_thresholds_and_initial_membrane():
    model = _converted_like(4)
    neurons = [m for m in model.modules() if isinstance(m, IF)]
    assert [m.threshold for m in neurons] == [0.6, 0.9, 1.2]
    assert [m.v_init for m in neurons] == [0.3, 0.45, 0.6]
    with pytest.raises(ValueError, match="has 2 values but the network has 3 spiking layers"):
        build_model(ModelSpec(arch="cnn", num_classes=3, input_shape=[1, 8, 8],
                              neuron=NeuronSpec(thresholds=[1.0, 1.0])))


@pytest.mark.parametrize("T", [3, 6])  # 6 > the default chunk of 4: the membrane carries across chunks
def test_rate_forward_spikes_equal_the_forward_with_initial_membrane(T):
    model = _converted_like(T)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 2
    rec = {}
    hooks = [getattr(model, n).register_forward_hook(lambda _m, _i, o, n=n: rec.__setitem__(n, o))
             for n in model.stage_names]
    with torch.no_grad():
        ref = model(x)
    for h in hooks:
        h.remove()
    logits, feats = rate_forward(model, x, model.stage_names)
    for n in model.stage_names:  # the spike pass is the forward, spike for spike (stage outputs are neurons)
        assert torch.equal(feats[n], rec[n].reshape(T, -1, *rec[n].shape[1:]).mean(0)), n
    torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-6)
    for m in model.modules():  # the same network starting at 0 fires differently: v_init reached the spike pass
        if isinstance(m, IF):
            m.v_init = 0.0
    assert not torch.equal(rate_forward(model, x, ["stage1"])[1]["stage1"], feats["stage1"])


def test_model_files_written_before_these_fields_still_load(tmp_path):
    from neurokd import load_model
    from neurokd.runs.checkpoint import save_model_file

    model = build_model(ModelSpec(arch="cnn", T=2, width=4, num_classes=3, input_shape=[1, 8, 8]))
    old = model.spec.to_dict()
    for key in ("activation", "qcfs_levels"):
        del old[key]
    for key in ("thresholds", "initial_membrane"):
        del old["neuron"][key]
    save_model_file(tmp_path / "model.safetensors", model, old)
    loaded = load_model(tmp_path / "model.safetensors")
    assert loaded.spec.neuron.thresholds is None and loaded.spec.activation == "relu"
    assert all(m.v_init == 0.0 and m.threshold == 1.0 for m in loaded.modules() if isinstance(m, LIF))
