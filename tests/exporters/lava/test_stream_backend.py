"""The ``loihi-fixed`` stream backend: window-by-window fixed-point inference equals the offline NumPy model."""

import numpy as np
import pytest
import torch

from neurokd.cli import main
from neurokd.data.events import to_frames, write_events_npy
from neurokd.data.events.saccade import SENSOR_SIZE, SaccadeConfig, _digit_images
from neurokd.data.events.saccade import simulate as saccades
from neurokd.exporters.lava import simulate, to_netx
from neurokd.exporters.lava.stream import LoihiFixedBackend
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.registry import make_backend
from neurokd.runs.checkpoint import save_model_file
from neurokd.stream import EventSource, concat_recordings, run_stream

D, T, N = SaccadeConfig().duration_us, 5, 6


@pytest.fixture(scope="module")
def data():
    imgs, labels = _digit_images()
    ev, off = saccades(imgs[:N], SaccadeConfig())
    recs = [ev[off[i]:off[i + 1]] for i in range(N)]
    frames = np.stack([to_frames(r, SENSOR_SIZE, T, D // T) for r in recs], 1).astype(np.float32)  # [T, N, ...]
    return recs, frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    m = build_model(ModelSpec(arch="cnn", kind="snn", T=T, width=8, num_classes=10, input_shape=[2, 34, 34],
                              neuron=NeuronSpec(beta=0.9, threshold=0.5)))
    with torch.no_grad():  # enough drive that every layer spikes, and biases that act before the first frame
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.mul_(3.0)
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.bias.uniform_(-0.2, 0.3)
    return m.eval()


@pytest.fixture(scope="module")
def netfile(tmp_path_factory, model, data):
    path = tmp_path_factory.mktemp("net") / "model.net"
    to_netx(model, path, calibration=data[1].reshape(-1, 2, 34, 34))
    return path


def test_streamed_fixed_point_equals_the_offline_numpy_model(data, netfile):
    recs, frames = data
    offline = simulate(netfile, frames, backend="numpy")
    assert len(set(offline.predictions.tolist())) > 1 and offline.spike_counts[:, :-1].min() > 0  # readout: no spikes
    backend = make_backend("loihi-fixed", str(netfile))
    # one window per time bin, state carried across the T windows of a recording, reset between recordings
    rep = run_stream(EventSource(concat_recordings(recs, D), SENSOR_SIZE, chunk=1000), backend, SENSOR_SIZE,
                     D // T, 1, reset_every=T)
    assert rep.stopped is None and len(rep.windows) == N * T and rep.backend == "loihi-fixed"
    np.testing.assert_array_equal(rep.predictions()[T - 1::T], offline.predictions)
    # per-step logits are the readout's increments: a segment's sum is the offline readout membrane, exactly
    for i in range(N):
        backend.reset()
        parts = [backend.step(frames[k:k + 1, i]) for k in range(T)]  # window by window
        v = np.rint(np.concatenate(parts).sum(0) * backend.decode).astype(np.int64)
        np.testing.assert_array_equal(v, offline.v_out[i])
        backend.reset()  # the same in one call of T steps
        np.testing.assert_array_equal(np.rint(backend.step(frames[:, i]).sum(0) * backend.decode), offline.v_out[i])


def test_state_carries_across_windows_and_latency_is_aligned(data, netfile):
    _, frames = data
    backend = LoihiFixedBackend(str(netfile))
    backend.reset()
    whole = backend.step(frames[:, 0])
    backend.reset()
    split = np.concatenate([backend.step(frames[:2, 0]), backend.step(frames[2:, 0])])
    np.testing.assert_array_equal(whole, split)
    # without the state of the first two steps the later logits change (the network has memory)
    backend.reset()
    assert not np.array_equal(backend.step(frames[2:, 0]), whole[2:])
    # latency aligned: frame k's logits come back with frame k (a lagging model would return zeros first)
    backend.reset()
    assert np.abs(backend.step(frames[:1, 0])).sum() > 0


def test_float_model_is_quantized_on_the_fly(data, model, netfile):
    _, frames = data
    calib = frames.reshape(-1, 2, 34, 34)
    a, b = LoihiFixedBackend(model, calibration=calib), LoihiFixedBackend(str(netfile))
    np.testing.assert_array_equal(a.step(frames[:, 1]), b.step(frames[:, 1]))


def test_cli_stream_loihi_fixed(tmp_path, data, model, netfile, capsys):
    recs, _ = data
    events = tmp_path / "s.npy"
    write_events_npy(events, concat_recordings(recs, D))
    win = str(D / T / 1000)
    assert main(["stream", str(netfile), "--events", str(events), "--window-ms", win]) == 0  # reset: the file's T
    assert "events_per_s" in capsys.readouterr().out
    save_model_file(tmp_path / "snn.safetensors", model, model.spec.to_dict())
    args = ["stream", str(tmp_path / "snn.safetensors"), "--events", str(events), "--window-ms", win,
            "--reset-every", str(T), "--backend", "loihi-fixed"]
    assert main(args) == 2  # a bare weights file: the input range is unknown
    assert "--input-max" in capsys.readouterr().err
    assert main([*args, "--input-max", "6"]) == 0
    assert main([*args[:-4], "--reset-every", "0", "--backend", "loihi-fixed", "--input-max", "6"]) == 2
    assert "between 1 and 5" in capsys.readouterr().err
    assert main(["stream", str(netfile), "--events", str(events), "--window-ms", win, "--backend", "torch"]) == 2


def test_cli_loihi_fixed_truncated_bin_and_corrupt_mid_stream(tmp_path, data, netfile, capsys):
    from neurokd.data.events import write_nmnist_bin

    recs, _ = data
    stream = concat_recordings(recs[:2], D)
    nm = tmp_path / "s.bin"  # the stream in the N-MNIST format, cut mid-event
    write_nmnist_bin(nm, stream)
    nm.write_bytes(nm.read_bytes()[:-3])
    assert main(["stream", str(netfile), "--events", str(nm), "--window-ms", "60"]) == 2
    err = capsys.readouterr()
    assert "s.bin" in err.err and "5-byte N-MNIST events" in err.err and "events_per_s" not in err.out
    bad = concat_recordings(recs, D).copy()
    bad["y"][len(bad) // 2] = 99  # outside the 34x34 sensor, half way through
    npy = tmp_path / "bad.npy"
    write_events_npy(npy, bad)
    assert main(["stream", str(netfile), "--events", str(npy), "--window-ms", "60"]) == 2
    err = capsys.readouterr()
    assert "stream stopped after" in err.err and "outside the 34x34 sensor" in err.err
    assert "events_per_s" in err.out  # the windows before the bad event were processed and reported


def test_a_residual_graph_streams_like_its_offline_numpy_model(data, tmp_path):
    """The loihi-fixed backend on a .lava graph (resnet20: fan-in and delayed shortcuts, latency 20 steps)."""
    from neurokd.exporters.lava.export import to_lava

    recs, frames = data
    torch.manual_seed(4)
    res = build_model(ModelSpec(arch="resnet20", kind="snn", T=T, width=4, num_classes=10, input_shape=[2, 34, 34],
                                neuron=NeuronSpec(beta=0.9, threshold=0.5)))
    with torch.no_grad():
        for mod in res.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.bias.uniform_(0.0, 0.3)
    path = tmp_path / "res.lava"
    _report, form = to_lava(res.eval(), path, calibration=frames.reshape(-1, 2, 34, 34))
    offline = simulate(path, frames, backend="numpy")
    assert form == "graph" and offline.latency == 20 and offline.spike_counts[:, :-1].min() > 0
    backend = make_backend("loihi-fixed", str(path))
    rep = run_stream(EventSource(concat_recordings(recs, D), SENSOR_SIZE, chunk=1000), backend, SENSOR_SIZE,
                     D // T, 1, reset_every=T)
    np.testing.assert_array_equal(rep.predictions()[T - 1::T], offline.predictions)
    for i in range(2):
        backend.reset()
        v = np.rint(backend.step(frames[:, i]).sum(0) * backend.decode).astype(np.int64)
        np.testing.assert_array_equal(v, offline.v_out[i])
    # the float model streamed through the same backend is quantized as a graph too
    assert LoihiFixedBackend(res, input_max=float(frames.max())).net.latency == 20
