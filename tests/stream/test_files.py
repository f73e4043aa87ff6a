"""Stream files from dataset splits (``neurokd stream-file``): layout, labels, and ``neurokd stream`` on them."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from neurokd.config import DataConfig
from neurokd.configlib import build_config
from neurokd.data import load_dataset
from neurokd.data.events import make_events, read_event_file
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.runs.checkpoint import save_model_file
from neurokd.stream import labels_path_for, read_labels, write_stream_file
from tests.cli.test_cli import _one_line_error as one_line_error
from tests.data.events.test_datasets import _nmnist_tree

D = 300_000  # N-MNIST's recording length (us)


@pytest.fixture(scope="module")
def nmnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nmnist")
    _nmnist_tree(root, n_per=2)
    return root


@pytest.fixture(scope="module")
def splits(nmnist_root):
    return load_dataset(build_config(DataConfig, overrides={"name": "nmnist", "root": str(nmnist_root)}), T=5)


class _Split:
    """A dataset split as write_stream_file reads it: ``len``, ``events(i)``, ``y``."""

    def __init__(self, recordings, labels):
        self.recordings, self.y = recordings, torch.tensor(labels)

    def __len__(self):
        return len(self.recordings)

    def events(self, i):
        return self.recordings[i]


def test_recording_i_fills_segment_i_and_labels_follow(splits, tmp_path):
    written = write_stream_file(splits, "test", tmp_path / "s.npy")
    assert written.labels == tmp_path / "s.labels.json" == labels_path_for(tmp_path / "s.npy")
    test = splits.test
    ev = read_event_file(written.events)
    assert written.recordings == len(test) == 20 and written.n_events == len(ev) and written.segment_us == D
    for i in range(len(test)):
        seg = ev[(ev["t"] >= i * D) & (ev["t"] < (i + 1) * D)]
        rec = test.events(i)
        np.testing.assert_array_equal(seg[["x", "y", "p"]], rec[["x", "y", "p"]])
        np.testing.assert_array_equal(seg["t"], rec["t"] + i * D)
    assert read_labels(written.labels) == test.y.tolist()


def test_limit_segment_and_explicit_labels_path(splits, tmp_path):
    written = write_stream_file(splits, "train", tmp_path / "s.npy", tmp_path / "y.json", segment_us=100_000,
                                limit=3)
    ev = read_event_file(written.events)
    train = splits.train
    kept = [train.events(i)[train.events(i)["t"] < 100_000] for i in range(3)]
    assert written.recordings == 3 and len(ev) == sum(map(len, kept)) and ev["t"].max() < 3 * 100_000
    np.testing.assert_array_equal(ev["t"][: len(kept[0])], kept[0]["t"])
    assert json.loads((tmp_path / "y.json").read_text()) == train.y[:3].tolist()


def test_recordings_on_absolute_clocks_start_their_segment_at_their_first_event(tmp_path):
    """DVS Gesture / CIFAR10-DVS timestamps are absolute: each recording is moved to its segment's start."""
    recs = [make_events([1, 2], [1, 2], [5_000_000, 5_000_010], [1, 0]),
            make_events([3], [3], [9_000_000], [1])]
    splits = SimpleNamespace(name="dvsgesture", test=_Split(recs, [4, 7]))
    written = write_stream_file(splits, "test", tmp_path / "g.npy")
    ev = read_event_file(written.events)
    assert ev["t"].tolist() == [0, 10, 6_000_000] and read_labels(written.labels) == [4, 7]


def test_cli_writes_the_files_that_neurokd_stream_reads(nmnist_root, tmp_path, neurokd):
    out = tmp_path / "test_stream.npy"
    r = neurokd("stream-file", "--dataset", "nmnist", "--data-root", nmnist_root, "--split", "test", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "20 recordings of nmnist/test" in r.stdout and "300 ms each" in r.stdout
    assert f"--events {out} --labels {tmp_path / 'test_stream.labels.json'}" in r.stdout
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="cnn", kind="snn", T=5, width=8, num_classes=10, input_shape=[2, 34, 34],
                                  neuron=NeuronSpec(threshold=0.5))).eval()
    save_model_file(tmp_path / "snn.safetensors", model, model.spec.to_dict())
    r = neurokd("stream", tmp_path / "snn.safetensors", "--events", out, "--labels", tmp_path / "test_stream.labels.json",
            "--window-ms", 60, "--reset-every", 5, "--json", tmp_path / "r.json")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["windows"] == 20 * 5 and summary["accuracy"] is not None


def test_cli_errors_are_one_line(nmnist_root, tmp_path, neurokd):
    out = tmp_path / "s.npy"
    one_line_error(neurokd("stream-file", "--dataset", "digits", "-o", out), "not an event dataset", "saccade-digits")
    one_line_error(neurokd("stream-file", "--dataset", "nmnist", "-o", out), "set data.root")
    one_line_error(neurokd("stream-file", "--dataset", "nmnist", "--data-root", nmnist_root, "-o", tmp_path / "s.bin"),
                   "ending in .npy")
    one_line_error(neurokd("stream-file", "--dataset", "nmnist", "--data-root", nmnist_root, "-o", out, "--limit", 0),
                   "limit")
    one_line_error(neurokd("stream-file", "--dataset", "nmnist", "--data-root", nmnist_root, "-o", out,
                       "--segment-ms", "-3"), "--segment-ms")
    assert not out.exists() and not labels_path_for(out).exists()
