"""The demo's Lava stage on a trained student (the full demo runs it too, in tests/test_demo.py)."""

import json

import pytest

from neurokd.config import DataConfig
from neurokd.data import load_dataset
from neurokd.demo import DemoContext
from neurokd.demo.lava_stage import LAVA_SAMPLES, stage_lava
from neurokd.train import TrainResult


@pytest.mark.slow
def test_stage_lava_adds_the_summary_section(trained_snn, tmp_path):
    run_dir, model = trained_snn
    ctx = DemoContext(tmp_path, progress=False, splits=load_dataset(DataConfig()))
    ctx.runs["snn"] = TrainResult(run_dir, model, {})
    stage_lava(ctx)
    lava = ctx.summary["lava"]
    assert lava["path"].endswith("model.net") and (tmp_path / "lava" / "model.net").is_file()
    assert lava["lava_spike_equal"] is True and lava["lava_samples"] == LAVA_SAMPLES
    assert abs(lava["fixed_acc"] - lava["float_acc"]) <= 0.01
    assert ctx.rows[-1][0] == "snn (Loihi 2 fixed point)"
    json.dumps(ctx.summary)  # the summary stays JSON-serialisable


@pytest.mark.slow
def test_stage_lava_residual_runs_a_residual_graph(tmp_path):
    from neurokd.demo.lava_stage import RESIDUAL_LAVA_SAMPLES, stage_lava_residual
    from neurokd.exporters.lava import compat

    ctx = DemoContext(tmp_path, progress=False, splits=load_dataset(DataConfig()))
    ctx.summary["dataset"] = "digits"
    stage_lava_residual(ctx)
    res = ctx.summary["lava_residual"]
    assert res["form"] == "graph" and (tmp_path / "lava" / "resnet20.lava").is_file() and res["trained"] is False
    assert res["populations"] == 20 and res["max_fan_in"] == 2 and res["delayed_projections"] == 9
    assert res["latency"] == 20 and 0 <= res["agreement_with_float"] <= 1
    if compat.lava_available():
        assert res["lava_spike_equal"] is True and res["lava_samples"] == RESIDUAL_LAVA_SAMPLES
    assert "Loihi 2 graph" in ctx.rows[-1][0]
    json.dumps(ctx.summary)
