"""saccade-digits: the simulated DVS recording of scikit-learn digits (N-MNIST's saccades + a DVS pixel model)."""

import numpy as np
import pytest

from neurokd.config import DataConfig
from neurokd.data import load_dataset
from neurokd.data.events import check_events, to_frames, write_nmnist_bin
from neurokd.data.events.saccade import SENSOR_SIZE, SaccadeConfig, _digit_images, camera_offsets, simulate


@pytest.fixture(scope="module")
def digits():
    return _digit_images()


def _split(events, offsets):
    return [events[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def test_deterministic_by_seed_and_valid(digits):
    imgs = digits[0][:6]
    cfg = SaccadeConfig()
    a, oa = simulate(imgs, cfg)
    b, ob = simulate(imgs, cfg)
    assert np.array_equal(a, b) and np.array_equal(oa, ob)
    c, _ = simulate(imgs, SaccadeConfig(seed=1))
    assert not np.array_equal(a, c)
    for rec in _split(a, oa):
        check_events(rec, SENSOR_SIZE, "saccade")  # inside the sensor, sorted, polarity 0/1
        assert 1500 < len(rec) < 15000 and rec["t"].max() < cfg.duration_us
        assert 0.3 < rec["p"].mean() < 0.7  # edges moving both ways give ON and OFF events


def test_three_saccades_follow_nmnist_triangle():
    cfg = SaccadeConfig()
    off = camera_offsets(cfg)
    assert len(off) == cfg.duration_us // cfg.dt_us + 1
    steps = int(cfg.saccade_ms * 1000 / cfg.dt_us)
    np.testing.assert_allclose(off[[0, steps, 2 * steps, 3 * steps]], np.asarray(cfg.path))


def test_refractory_period_and_threshold(digits):
    imgs = digits[0][:4]
    cfg = SaccadeConfig(noise_hz=0.0, refractory_us=3000)
    ev, off = simulate(imgs, cfg)
    for rec in _split(ev, off):
        pix = rec["y"].astype(np.int64) * 34 + rec["x"]
        order = np.lexsort((rec["t"], pix))
        same = np.diff(pix[order]) == 0
        gaps = np.diff(rec["t"][order])[same]
        assert gaps.min() >= cfg.refractory_us
    fewer, _ = simulate(imgs, SaccadeConfig(noise_hz=0.0, contrast=0.8))
    assert len(fewer) < 0.6 * len(ev)  # a higher contrast threshold gives fewer events


def test_background_noise_only_on_a_blank_scene():
    blank = np.zeros((3, 8, 8), np.float32)
    ev, off = simulate(blank, SaccadeConfig(noise_hz=0.0))
    assert len(ev) == 0
    cfg = SaccadeConfig(noise_hz=5.0)
    ev, off = simulate(blank, cfg)
    expected = 5.0 * 34 * 34 * cfg.duration_us * 1e-6  # Poisson mean per recording
    assert abs(np.diff(off).mean() - expected) < 4 * np.sqrt(expected / 3)


def test_written_as_nmnist_files_and_read_by_the_nmnist_loader(tmp_path, digits):
    imgs, labels = digits
    idx = np.arange(40)
    ev, off = simulate(imgs[idx], SaccadeConfig())
    recs = _split(ev, off)
    for split, part in (("Train", range(0, 30)), ("Test", range(30, 40))):
        for i in part:
            write_nmnist_bin(tmp_path / split / str(labels[i]) / f"{i:05d}.bin", recs[i])
    cfg = DataConfig(name="nmnist", root=str(tmp_path), val_fraction=0.0, frame_cache=False)
    d = load_dataset(cfg, T=5)
    assert (len(d.train), len(d.test), d.input_shape, d.time_bins) == (30, 10, [2, 34, 34], 5)
    # files are read in label folder order; match each back to its recording by label and content
    for j in range(len(d.test)):
        path = d.test.samples.paths[j]
        i = int(path.stem)
        assert d.test.y[j] == labels[i]
        np.testing.assert_array_equal(d.test.frames(j), to_frames(recs[i], SENSOR_SIZE, 5, 60_000))


@pytest.mark.slow
def test_registered_dataset_splits_like_digits():
    d = load_dataset(DataConfig(name="saccade-digits"), T=4)
    assert (len(d.train), len(d.val), len(d.test)) == (1293, 144, 360)
    assert d.input_shape == [2, 34, 34] and d.num_classes == 10 and d.time_bins == 4
    digits = load_dataset(DataConfig(name="digits"))
    assert d.test.y.tolist() == digits.test.y.tolist() and d.val.y.tolist() == digits.val.y.tolist()
    x, y = d.test.get_batch(np.arange(8))
    assert x.shape == (4, 8, 2, 34, 34) and x.sum() > 0


@pytest.mark.parametrize("progress", [True, False])
def test_load_dataset_passes_the_progress_switch_to_generation(monkeypatch, progress):
    from neurokd.data.events import saccade

    real, seen = saccade.generate, []

    def recording_generate(cfg, progress=False):
        seen.append(progress)
        return real(cfg, progress=False)

    monkeypatch.setattr(saccade, "generate", recording_generate)
    splits = load_dataset(DataConfig(name="saccade-digits"), T=2, progress=progress)
    assert seen == [progress] and len(splits.test) > 0
