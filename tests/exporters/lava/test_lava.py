"""Lava's own loader and simulator (lava-dl netx on Loihi2SimCfg fixed_pt) against the NumPy model, and our
files against a network built and exported with lava-dl's slayer blocks."""

import h5py
import numpy as np
import pytest
import torch

from neurokd.exporters.lava import compat, numpy_sim, simulate
from neurokd.exporters.lava.netx import (
    ConvLayer,
    Cuba,
    DenseLayer,
    FlattenLayer,
    InputLayer,
    NetxNetwork,
)
from neurokd.exporters.lava.netx_reader import read_netx
from neurokd.exporters.lava.netx_writer import write_netx
from neurokd.exporters.lava.simulation import RESET_OFFSET

pytestmark = pytest.mark.skipif(not compat.lava_available(), reason="lava-nc/lava-dl not installed (make setup)")


def run_lava(*args, **kwargs):
    from neurokd.exporters.lava.lava_run import run_lava as run

    return run(*args, **kwargs)


def stream_of(net, n, T, seed):
    """``n`` random graded samples back to back, plus one idle step per layer at the end."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 16, (n * T, *net.input_shape))
    return np.concatenate([frames, np.zeros((len(net.synaptic_layers), *net.input_shape), np.int64)])


@pytest.mark.parametrize("fixture", ["conv_net_file", "dense_net_file"])
def test_numpy_model_equals_lava_step_for_step(fixture, request):
    """Every layer's spikes and the readout membrane at every physical step, samples streamed with resets."""
    path = request.getfixturevalue(fixture)
    net = read_netx(path)
    T = 4
    stream = stream_of(net, 3, T, seed=7)
    lava = run_lava(path, stream, input_message_bits=8, reset_interval=T, reset_offset=RESET_OFFSET)
    ours = numpy_sim.run(net, stream[None], reset_interval=T, reset_offset=RESET_OFFSET)
    assert sum(int(s.sum()) for s in ours.spikes[:-1]) > 20  # the hidden layers are active
    for i, (a, b) in enumerate(zip(lava.spikes, ours.spikes)):
        assert np.array_equal(a, b), f"layer {i}: {int((a != b).sum())} spikes differ"
    assert np.array_equal(lava.v_last, ours.v_last)


def slayer_network():
    compat.install()
    import lava.lib.dl.slayer as slayer

    torch.manual_seed(0)
    params = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03}
    return torch.nn.ModuleList([
        slayer.block.cuba.Conv(params, 2, 4, 3, padding=1, stride=1, weight_scale=2, delay_shift=False),
        slayer.block.cuba.Conv(params, 4, 3, 3, padding=1, stride=2, weight_scale=2, delay_shift=False),
        slayer.block.cuba.Flatten(),
        slayer.block.cuba.Dense(params, 27, 6, weight_scale=2, delay_shift=False),
    ])


def our_copy(blocks) -> NetxNetwork:
    """The slayer network rebuilt through neurokd's own writer: the same integer weights (slayer's 8-bit
    quantizer, descaled) and device parameters, plus an explicit input layer."""
    layers = [InputLayer((2, 6, 5))]
    for b in blocks:
        if not hasattr(b, "synapse"):
            layers.append(FlattenLayer((27, 1, 1)))
            continue
        w = b.synapse.pre_hook_fx(b.synapse.weight, descale=True).detach().numpy()
        p = b.neuron.device_params
        neuron = Cuba(int(p["iDecay"]), int(p["vDecay"]), int(p["vThMant"]))
        if type(b).__name__ == "Conv":
            s = b.synapse
            layers.append(ConvLayer(tuple(b.neuron.shape), np.rint(w[..., 0]).astype(int), neuron,
                                    tuple(s.stride[:2]), tuple(s.padding[:2]), tuple(s.dilation[:2]), s.groups))
        else:
            layers.append(DenseLayer((w.shape[0],), np.rint(w.reshape(w.shape[:2])).astype(int), neuron))
    return NetxNetwork(layers)


@pytest.mark.slow
def test_our_file_reproduces_a_slayer_network_in_netx(tmp_path):
    blocks = slayer_network()
    T = 12
    x = (torch.rand(1, 2, 6, 5, T) < 0.4).float()
    with torch.no_grad():  # slayer's own PyTorch simulation (it also sets the shapes export_hdf5 writes)
        h, outs = x, []
        for b in blocks:
            h = b(h)
            outs.append(h)
    with h5py.File(tmp_path / "slayer.net", "w") as f:  # as in lava-dl's README
        group = f.create_group("layer")
        for i, b in enumerate(blocks):
            b.export_hdf5(group.create_group(f"{i}"))
    write_netx(our_copy(blocks), tmp_path / "ours.net")

    theirs, ours = read_netx(tmp_path / "slayer.net", input_shape=(2, 6, 5)), read_netx(tmp_path / "ours.net")
    for a, b in zip(theirs.synaptic_layers, ours.synaptic_layers):
        assert np.array_equal(a.weight, b.weight) and a.neuron == b.neuron and tuple(a.shape) == tuple(b.shape)

    stream = np.concatenate([x[0].permute(3, 0, 1, 2).numpy().astype(np.int64), np.zeros((3, 2, 6, 5), int)])
    lava_theirs = run_lava(tmp_path / "slayer.net", stream, input_shape=(2, 6, 5))
    lava_ours = run_lava(tmp_path / "ours.net", stream)
    numpy_theirs = numpy_sim.run(theirs, stream[None])
    for a, b, c in zip(lava_theirs.spikes, lava_ours.spikes, numpy_theirs.spikes):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    assert sum(int(s.sum()) for s in lava_ours.spikes) > 50

    # and slayer's own PyTorch simulation, shifted by one step per layer, agrees within its T steps
    for i, o in enumerate([outs[0], outs[1], outs[3]]):
        o = o[0].permute(-1, *range(o.ndim - 2)).numpy().astype(bool)
        assert np.array_equal(o, numpy_theirs.spikes[i][0, 1 + i:1 + i + T])


@pytest.mark.slow
def test_simulate_backends_agree_on_a_trained_model(trained_snn, tmp_path):
    from neurokd.config import DataConfig
    from neurokd.data import load_dataset
    from neurokd.exporters.lava import to_netx

    _run, model = trained_snn
    splits = load_dataset(DataConfig())
    to_netx(model, tmp_path / "m.net", calibration=splits.train.x)
    x = splits.test.x[:6].numpy()
    lava = simulate(tmp_path / "m.net", x, backend="lava", record_spikes=True)
    ours = simulate(tmp_path / "m.net", x, backend="numpy", record_spikes=True, batch_size=4)
    assert np.array_equal(lava.v_out, ours.v_out) and np.array_equal(lava.spike_counts, ours.spike_counts)
    assert all(np.array_equal(a, b) for a, b in zip(lava.spikes, ours.spikes))
    assert lava.latency == 4 and lava.steps_per_s > 0


def test_a_failing_lava_worker_raises_instead_of_hanging(conv_net_file, monkeypatch):
    compat.install()
    from lava.proc.conv import utils

    def broken(*args, **kwargs):
        raise ValueError("broken conv")

    monkeypatch.setattr(utils, "conv", broken)  # forked workers inherit it
    with pytest.raises(RuntimeError, match="Lava run failed: ValueError: broken conv"):
        run_lava(conv_net_file, np.zeros((6, 2, 6, 5), np.int64), input_message_bits=8)


def test_processes_are_detached_from_their_runtime_after_success_and_failure(dense_net_file, conv_net_file,
                                                                            monkeypatch):
    # Lava's Process.__del__ calls runtime.stop(); after a failed run's teardown that wrote into freed shared
    # memory and segfaulted the interpreter at exit. No process of a finished run may keep its runtime.
    compat.install()
    from lava.magma.core.process.process import AbstractProcess
    from lava.proc.conv import utils

    created = []
    init = AbstractProcess.__init__

    def track(self, *args, **kwargs):
        init(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(AbstractProcess, "__init__", track)
    run_lava(dense_net_file, np.zeros((4, 12), np.int64), input_message_bits=8)
    n_ok = len(created)

    def broken(*args, **kwargs):
        raise ValueError("broken conv")

    monkeypatch.setattr(utils, "conv", broken)
    with pytest.raises(RuntimeError, match="broken conv"):
        run_lava(conv_net_file, np.zeros((6, 2, 6, 5), np.int64), input_message_bits=8)
    assert n_ok > 4 and len(created) > n_ok
    assert [p.name for p in created if p.runtime is not None] == []
