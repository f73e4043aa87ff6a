"""Training refuses a model, T and batch that cannot fit in memory before it loads data or writes a run folder
(the estimate is :func:`neurokd.guard.check_training`'s)."""

from __future__ import annotations

from pathlib import Path

import pytest

import neurokd.train.setup as setup
from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.errors import UserError
from neurokd.train.loop import run_training


def _cfg(out: Path, **over) -> RunConfig:
    base = {"name": "huge", "out_dir": str(out), "train.progress": False, "optim.epochs": 1, "train.threads": 1}
    return build_config(RunConfig, overrides={**base, **over})


def test_digits_at_a_huge_T_is_refused_with_the_estimate_and_no_run_folder(tmp_path):
    with pytest.raises(UserError, match=r"run 'huge': a cnn SNN .* at T=1000000, batch 64, backprop bptt needs "
                                        r"about .*TiB.*--backprop rate"):
        run_training(_cfg(tmp_path, **{"model.T": 10**6}))
    assert not (tmp_path / "huge").exists()


def test_rate_backprop_fits_where_bptt_does_not(tmp_path, monkeypatch):
    """Rate-based backprop's graph does not grow with T: the same T is refused for BPTT only."""
    monkeypatch.setenv("NEUROKD_MEMORY_GIB", "20")
    with pytest.raises(UserError, match="backprop bptt"):  # about 27 GiB
        setup.prepare_run(_cfg(tmp_path, **{"model.T": 20000}))
    setup.prepare_run(_cfg(tmp_path, **{"model.T": 20000, "train.backprop": "rate"}))  # about 15 GiB


def test_event_data_is_sized_from_the_sensor_before_it_loads(tmp_path, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the memory check")

    monkeypatch.setattr(setup, "load_dataset", no_load)
    cfg = _cfg(tmp_path, **{"data.name": "saccade-digits", "model.T": 10**6})
    with pytest.raises(UserError, match=r"T=1000000"):
        setup.prepare_run(cfg)
    spec = setup.sensor_spec(cfg)
    assert spec.input_shape == [2, 34, 34] and spec.num_classes == 10
