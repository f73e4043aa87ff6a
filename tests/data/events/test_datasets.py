"""Event datasets: binning, the frame cache, time-major batches, loaders for each on-disk layout."""

import numpy as np
import pytest
import torch

from neurokd.config import DataConfig, RunConfig
from neurokd.configlib import build_config
from neurokd.data import load_dataset, make_loaders
from neurokd.data.events import make_events, to_frames
from neurokd.data.events.cache import FrameCache
from neurokd.errors import DatasetError, UserError
from neurokd.models import ModelSpec, build_model
from tests.data.events.aedat4 import write_aedat4


def _events(n, w, h, t_max, seed=0, t0=0):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n), t0 + np.sort(rng.integers(0, t_max, n)),
                       rng.integers(0, 2, n))


def test_to_frames_counts_events_per_fixed_window():
    ev = _events(2000, 10, 6, 1000)
    frames = to_frames(ev, (10, 6, 2), 4, 200)  # windows [0,200) .. [600,800); t >= 800 dropped
    assert frames.shape == (4, 2, 6, 10) and frames.dtype == np.int16
    expected = np.zeros((4, 2, 6, 10), np.int64)
    for e in ev:
        k = e["t"] // 200
        if k < 4:
            expected[k, e["p"], e["y"], e["x"]] += 1
    np.testing.assert_array_equal(frames, expected)


def test_frame_cache_builds_once_and_rebuilds_a_corrupt_entry():
    calls = []

    def build():
        calls.append(1)
        return np.full((2, 2, 3, 3), len(calls), np.int16)

    c = FrameCache("test-key-1", 3, (2, 2, 3, 3))
    first = c.get(1, build).copy()
    assert c.get(1, build) is not None and len(calls) == 1  # RAM
    c2 = FrameCache("test-key-1", 3, (2, 2, 3, 3))
    np.testing.assert_array_equal(c2.get(1, build), first)  # disk
    assert len(calls) == 1 and c2.built == 0
    c2.path(1).write_bytes(b"\x93NUMPY garbage")  # a damaged entry
    c3 = FrameCache("test-key-1", 3, (2, 2, 3, 3))
    assert c3.get(1, build)[0, 0, 0, 0] == 2 and c3.built == 1  # rebuilt ...
    assert FrameCache("test-key-1", 3, (2, 2, 3, 3)).get(1, build)[0, 0, 0, 0] == 2  # ... and rewritten
    assert not [p for p in c.folder.iterdir() if p.suffix == ".tmp"]


def _nmnist_tree(root, n_per=3):
    from neurokd.data.events import write_nmnist_bin

    for split in ("Train", "Test"):
        for d in range(10):
            for i in range(n_per):
                write_nmnist_bin(root / split / str(d) / f"{i:05d}.bin", _events(300, 34, 34, 300_000, d * 10 + i))


def test_epochs_after_the_first_do_not_rebin_and_batches_are_time_major(tmp_path):
    _nmnist_tree(tmp_path)
    cfg = DataConfig(name="nmnist", root=str(tmp_path), batch_size=8, val_fraction=0.2)
    d = load_dataset(cfg, T=3)
    assert (len(d.train), len(d.val), len(d.test)) == (24, 6, 30)
    train = make_loaders(d, cfg, 0)[0]
    xs = [x for x, _ in train]
    assert xs[0].shape == (3, 8, 2, 34, 34) and xs[0].dtype == torch.float32
    assert d.train.cache.built == 24
    train.set_epoch(2)
    list(train)
    assert d.train.cache.built == 24  # second epoch: no binning
    again = load_dataset(cfg, T=3)  # a new run reads the disk cache
    list(make_loaders(again, cfg, 0)[0])
    assert again.train.cache.built == 0
    # a batch is the time-major stack of the per-sample frames
    x, y = d.test.get_batch(torch.tensor([4, 0]))
    np.testing.assert_array_equal(x[:, 0].numpy(), d.test.frames(4))
    assert y.tolist() == [d.test.y[4].item(), d.test.y[0].item()]


def test_augmentation_is_the_same_at_every_time_step(tmp_path):
    _nmnist_tree(tmp_path, 1)
    d = load_dataset(DataConfig(name="nmnist", root=str(tmp_path), val_fraction=0.0), T=3)
    from neurokd.data.augment import HorizontalFlip

    idx = torch.arange(5)
    plain, _ = d.train.get_batch(idx)
    flipped, _ = d.train.get_batch(idx, HorizontalFlip(1.0), torch.Generator().manual_seed(0))
    assert torch.equal(flipped, plain.flip(-1))


def test_ann_teacher_sees_the_accumulated_frame_of_the_student_sequence():
    spec = ModelSpec(arch="cnn", kind="ann", width=4, num_classes=10, input_shape=[2, 34, 34])
    ann = build_model(spec).eval()
    x = torch.rand(5, 3, 2, 34, 34)
    torch.testing.assert_close(ann(x), ann(x.sum(0)))
    snn = build_model(ModelSpec(arch="cnn", kind="snn", T=5, width=4, num_classes=10, input_shape=[2, 34, 34]))
    assert snn(x).shape == (3, 10)


def test_time_bins_must_match_the_snn_T(tmp_path):
    from neurokd.train.setup import model_spec_for

    _nmnist_tree(tmp_path, 1)
    cfg = build_config(RunConfig, overrides={"data.name": "nmnist", "data.root": str(tmp_path), "data.time_bins": 5,
                                             "model.T": 4})
    d = load_dataset(cfg.data, T=cfg.model.T)
    assert d.time_bins == 5
    with pytest.raises(UserError, match=r"data.time_bins': 5 event frames per sample but the SNN runs model.T=4"):
        model_spec_for(cfg, d)


@pytest.mark.parametrize("name, hint", [("nmnist", "extract N-MNIST's train.zip and test.zip"),
                                        ("dvsgesture", "ibmGestureTrain.tar.gz"),
                                        ("cifar10dvs", "missing airplane")])
def test_missing_folder_says_which_files_go_where(tmp_path, name, hint):
    with pytest.raises(DatasetError, match=hint):
        load_dataset(DataConfig(name=name, root=str(tmp_path)), T=2)
    with pytest.raises(DatasetError, match="set data.root"):
        load_dataset(DataConfig(name=name), T=2)


def test_dvsgesture_tonic_layout(tmp_path):
    for split, users in (("ibmGestureTrain", (1, 2)), ("ibmGestureTest", (3,))):
        for u in users:
            for label in range(11):
                ev = _events(200, 128, 128, 6000, u * 11 + label)
                arr = np.stack([ev["x"], ev["y"], ev["p"], ev["t"] + 100], 1).astype(np.float64)  # t in ms
                folder = tmp_path / split / f"user{u:02d}_led"
                folder.mkdir(parents=True, exist_ok=True)
                np.save(folder / f"{label}.npy", arr)
    d = load_dataset(DataConfig(name="dvsgesture", root=str(tmp_path), val_fraction=0.0, frame_cache=False), T=4)
    assert (len(d.train), len(d.test), d.num_classes, d.input_shape) == (22, 11, 11, [2, 128, 128])
    # clock starts at the first event (100 ms); 4 bins of 1.5 s hold every event
    assert all(d.test.frames(i).sum() == 200 for i in range(len(d.test)))


def test_cifar10dvs_tonic_layout_with_aedat4(tmp_path):
    from neurokd.data.events.datasets import CIFAR10DVS_CLASSES

    for i, c in enumerate(CIFAR10DVS_CLASSES):
        (tmp_path / c).mkdir()
        for j in range(5):
            write_aedat4(tmp_path / c / f"cifar10_{c}_{j}.aedat4",
                         _events(150, 128, 128, 1_000_000, i * 5 + j, t0=1_600_000_000_000_000))
    d = load_dataset(DataConfig(name="cifar10dvs", root=str(tmp_path), val_fraction=0.0, frame_cache=False), T=2)
    assert (len(d.train), len(d.test), d.input_shape) == (40, 10, [2, 128, 128])
    assert sorted(d.test.y.tolist()) == list(range(10))  # stratified 20% test split
    assert d.test.frames(0).sum() == 150


def test_corrupt_sample_names_the_file(tmp_path):
    _nmnist_tree(tmp_path, 1)
    bad = tmp_path / "Test" / "3" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:-1])
    d = load_dataset(DataConfig(name="nmnist", root=str(tmp_path), frame_cache=False), T=2)
    with pytest.raises(DatasetError, match="00000.bin: 1499 bytes"):
        list(make_loaders(d, DataConfig(name="nmnist"), 0)[2])


def test_denoise_drops_isolated_events_before_binning(tmp_path):
    from neurokd.data.events import Denoise, write_nmnist_bin

    # a burst of neighbouring events plus isolated ones far away in space (after the first filter window:
    # tonic's filter starts every pixel's memory at filter_time, so it keeps everything before that)
    burst = make_events([10, 11, 10, 11], [10, 10, 11, 11], [2100, 2150, 2200, 2250], [1, 1, 0, 0])
    lone = make_events([30, 2], [3, 30], [2120, 5000], [1, 1])
    ev = np.sort(np.concatenate([burst, lone]), order="t")
    kept = Denoise(1000)(ev)
    assert set(zip(kept["x"].tolist(), kept["y"].tolist())) <= {(10, 10), (11, 10), (10, 11), (11, 11)}
    assert len(kept) >= 3
    for split in ("Train", "Test"):
        for d in range(10):
            write_nmnist_bin(tmp_path / split / str(d) / "0.bin", ev)
    plain = load_dataset(DataConfig(name="nmnist", root=str(tmp_path), val_fraction=0.0, frame_cache=False), T=1)
    clean = load_dataset(DataConfig(name="nmnist", root=str(tmp_path), val_fraction=0.0, frame_cache=False,
                                    denoise_ms=1.0), T=1)
    assert plain.test.frames(0).sum() == 6 and clean.test.frames(0).sum() == len(kept)
