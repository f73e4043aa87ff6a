"""Streaming: windowing, state carried across windows, equality with offline inference, bad input."""

import json

import numpy as np
import pytest
import torch

from neurokd.cli import main
from neurokd.data.events import make_events, to_frames, write_events_npy
from neurokd.data.events.saccade import SENSOR_SIZE, SaccadeConfig, _digit_images, simulate
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.fold import inference_model
from neurokd.registry import make_backend
from neurokd.runs.checkpoint import save_model_file
from neurokd.stream import EventSource, concat_recordings, run_stream, split_windows

D, T = SaccadeConfig().duration_us, 5


@pytest.fixture(scope="module")
def recordings():
    imgs, labels = _digit_images()
    ev, off = simulate(imgs[:6], SaccadeConfig())
    return [ev[off[i]:off[i + 1]] for i in range(6)], labels[:6]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    m = build_model(ModelSpec(arch="cnn", kind="snn", T=T, width=8, num_classes=10, input_shape=[2, 34, 34],
                              neuron=NeuronSpec(beta=0.9, threshold=0.5)))
    with torch.no_grad():  # enough drive that every layer spikes
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv2d):
                mod.weight.mul_(3.0)
    return m.eval()


def test_split_windows_matches_a_brute_force_cut():
    rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, 10_000, 3000))
    t[500:700] = t[500]  # bursts at one timestamp
    ev = make_events(rng.integers(0, 4, 3000), rng.integers(0, 4, 3000), t, rng.integers(0, 2, 3000))
    cuts = np.sort(rng.choice(np.arange(1, 3000), 40, replace=False))
    chunks = np.split(ev, cuts)
    got = list(split_windows(chunks, 700, 0))
    assert [k for k, _ in got] == list(range(len(got))) and len(got) == t.max() // 700 + 1
    for k, w in got:
        np.testing.assert_array_equal(w, ev[(ev["t"] >= k * 700) & (ev["t"] < (k + 1) * 700)])


def test_stream_reproduces_offline_inference_with_state_across_windows(recordings, model):
    recs, _ = recordings
    stream = concat_recordings(recs, D)
    backend = make_backend("torch", model)
    rep = run_stream(EventSource(stream, SENSOR_SIZE, chunk=1000), backend, SENSOR_SIZE, D // T, 1, reset_every=T)
    assert rep.stopped is None and len(rep.windows) == 6 * T and rep.events == len(stream)
    frames = torch.from_numpy(np.stack([to_frames(r, SENSOR_SIZE, T, D // T) for r in recs], 1).astype(np.float32))
    with torch.no_grad():
        offline = inference_model(model)(frames).argmax(1).numpy()
    assert len(set(offline.tolist())) > 1  # the check below is not trivially satisfied
    np.testing.assert_array_equal(rep.predictions()[T - 1::T], offline)
    # without carrying state (reset every window) the predictions differ
    rep1 = run_stream(EventSource(stream, SENSOR_SIZE), backend, SENSOR_SIZE, D // T, 1, reset_every=1)
    assert not np.array_equal(rep1.predictions()[T - 1::T], offline)
    s = rep.summary()
    assert s["events_per_s"] > 0 and s["p95_window_ms"] >= s["p50_window_ms"] > 0 and s["windows"] == 6 * T


def test_several_steps_per_window_equal_one_step_windows(recordings, model):
    recs, _ = recordings
    stream = concat_recordings(recs[:2], D)
    backend = make_backend("torch", model)
    one = run_stream(EventSource(stream, SENSOR_SIZE), backend, SENSOR_SIZE, D // T, 1, reset_every=T)
    five = run_stream(EventSource(stream, SENSOR_SIZE), backend, SENSOR_SIZE, D, T, reset_every=1)
    np.testing.assert_array_equal(five.predictions(), one.predictions()[T - 1::T])


def test_batched_catch_up_and_real_time_replay_give_the_same_predictions(recordings, model):
    recs, _ = recordings
    stream = concat_recordings(recs[:3], D)
    backend = make_backend("torch", model)
    one = run_stream(EventSource(stream, SENSOR_SIZE), backend, SENSOR_SIZE, D // T, 1, reset_every=T)
    for max_batch in (3, 16):
        batched = run_stream(EventSource(stream, SENSOR_SIZE), backend, SENSOR_SIZE, D // T, 1, T, max_batch=max_batch)
        np.testing.assert_array_equal(batched.predictions(), one.predictions())
    # real-time replay of 0.9 s of stream (window 60 ms): takes the stream's time, windows wait for their end
    paced = run_stream(EventSource(stream, SENSOR_SIZE), backend, SENSOR_SIZE, D // T, 1, T, pace=True, max_batch=4)
    np.testing.assert_array_equal(paced.predictions(), one.predictions())
    assert paced.wall_s >= 3 * D * 1e-6 * 0.99 and paced.summary()["realtime_factor"] <= 1.01


def test_corrupt_mid_stream_stops_cleanly_with_the_windows_so_far(recordings, model):
    recs, _ = recordings
    stream = concat_recordings(recs, D).copy()
    bad = 20_000
    stream["t"][bad] = 5  # time goes backwards in the middle of the stream
    backend = make_backend("torch", model)
    rep = run_stream(EventSource(stream, SENSOR_SIZE, chunk=4096), backend, SENSOR_SIZE, D // T, 1, T)
    assert rep.stopped is not None and f"event {bad} has timestamp 5 us" in rep.stopped
    assert 0 < len(rep.windows) and rep.windows[-1].t_start_us < stream["t"][bad - 1]
    stream = concat_recordings(recs, D).copy()
    stream["x"][bad] = 40
    rep = run_stream(EventSource(stream, SENSOR_SIZE, chunk=4096), backend, SENSOR_SIZE, D // T, 1, T)
    assert "outside the 34x34 sensor" in rep.stopped and len(rep.windows) > 0


@pytest.fixture
def model_file(tmp_path, model):
    path = tmp_path / "snn.safetensors"
    save_model_file(path, model, model.spec.to_dict())
    return path


def test_cli_stream_reports_windows_accuracy_and_json(tmp_path, recordings, model_file, capsys):
    recs, labels = recordings
    events = tmp_path / "s.npy"
    write_events_npy(events, concat_recordings(recs, D))
    (tmp_path / "labels.json").write_text(json.dumps(labels.tolist()))
    out = tmp_path / "report.json"
    rc = main(["stream", str(model_file), "--events", str(events), "--window-ms", str(D / T / 1000),
               "--reset-every", str(T), "--labels", str(tmp_path / "labels.json"), "--json", str(out), "--threads", "1",
               "--plot", str(tmp_path / "stream.png")])
    assert rc == 0
    assert (tmp_path / "stream.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = capsys.readouterr().out
    assert "events_per_s" in text and "accuracy" in text
    report = json.loads(out.read_text())
    assert report["summary"]["windows"] == 6 * T and len(report["windows"]) == 6 * T
    assert report["summary"]["stopped"] is None and 0.0 <= report["summary"]["accuracy"] <= 1.0


def test_cli_stream_truncated_file_fails_before_streaming(tmp_path, recordings, model_file, capsys):
    recs, _ = recordings
    events = tmp_path / "s.npy"
    write_events_npy(events, concat_recordings(recs, D))
    events.write_bytes(events.read_bytes()[:-7])
    rc = main(["stream", str(model_file), "--events", str(events), "--window-ms", "60"])
    err = capsys.readouterr()
    assert rc == 2 and "s.npy: truncated" in err.err
    assert err.err.count("\n") == 1 and "events_per_s" not in err.out


def test_cli_stream_corrupt_mid_file_reports_then_fails(tmp_path, recordings, model_file, capsys):
    recs, _ = recordings
    stream = concat_recordings(recs, D).copy()
    stream["t"][70_000 if len(stream) > 70_000 else len(stream) - 10] = 0
    events = tmp_path / "s.npy"
    write_events_npy(events, stream)
    rc = main(["stream", str(model_file), "--events", str(events), "--window-ms", "60", "--reset-every", "5"])
    out = capsys.readouterr()
    assert rc == 2 and "stream stopped after" in out.err and "timestamps must not decrease" in out.err
    assert out.err.count("\n") == 1 and "events_per_s" in out.out


def test_cli_stream_refuses_an_ann_and_needs_a_window(tmp_path, model_file):
    ann = build_model(ModelSpec(arch="cnn", kind="ann", width=4, num_classes=10, input_shape=[2, 34, 34]))
    save_model_file(tmp_path / "ann.safetensors", ann, ann.spec.to_dict())
    events = tmp_path / "s.npy"
    write_events_npy(events, make_events([1], [1], [5], [1]))
    assert main(["stream", str(tmp_path / "ann.safetensors"), "--events", str(events), "--window-ms", "1"]) == 2
    assert main(["stream", str(model_file), "--events", str(events)]) == 2
    assert main(["stream", str(model_file), "--events", str(events), "--window-ms", "1", "--backend", "x"]) == 2


@pytest.mark.slow
def test_demo_dvs_stage_runs_the_pipeline_with_kd(tmp_path):
    """``neurokd demo --dvs`` = the example's pipeline at the demo settings (>= 0.90 at T <= 10)."""
    from neurokd.demo import DemoContext
    from neurokd.demo import dvs as dvs_demo

    ctx = DemoContext(tmp_path, progress=False, dvs=False)
    dvs_demo.stage_dvs(ctx)
    assert "dvs" not in ctx.summary and not ctx.runs  # off unless --dvs
    ctx.dvs = True
    dvs_demo.stage_dvs(ctx)
    dvs = ctx.summary["dvs"]
    assert dvs["T"] == dvs_demo.DVS_T <= 10 and dvs["test_acc"] >= 0.90 and dvs["method"] == "response"
    assert dvs["stream_acc"] == dvs["test_acc"]  # streaming window by window = offline on the same events
    assert dvs["fixed_stream_acc"] == dvs["fixed_acc"]  # the same for the Loihi 2 fixed-point network
    assert dvs["nir_spike_equal"] is True and dvs["events_per_s"] > 0 and dvs["p95_window_ms"] > 0
    assert {"dvs_teacher", "dvs_snn_kd"} <= {r[0] for r in ctx.rows} and "dvs_snn_kd" in ctx.runs
    assert (tmp_path / "dvs" / "hardware" / "report.md").is_file()
