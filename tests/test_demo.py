"""`neurokd demo` end to end (the `make demo` job)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_writes_summary_with_required_fields(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "neurokd", "demo", "--out", str(out), "--no-progress"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "digits" and summary["T"] == 4
    assert summary["teacher"]["test_acc"] >= 0.97
    assert summary["snn"]["test_acc"] >= 0.94
    assert summary["nir"]["spike_equal"] is True and summary["nir"]["nodes"] > 0
    lava = summary["lava"]
    assert lava["lava_spike_equal"] is True and abs(lava["fixed_acc"] - lava["float_acc"]) <= 0.01
    residual = summary["lava_residual"]  # a residual network (resnet20) as a Lava graph, NumPy == Lava
    assert residual["form"] == "graph" and residual["max_fan_in"] == 2 and residual["lava_spike_equal"] is True
    hw = summary["hardware"]
    assert hw["synops_per_sample"] > 0 and hw["T"] == 4
    assert hw["ann_dense_macs_per_sample"] > hw["ann_effective_macs_per_sample"] > 0  # the teacher: both figures
    report = json.loads((out / "hardware" / "report.json").read_text())
    assert hw["ann_dense_macs_per_sample"] == report["ann"]["totals"]["dense"]  # the report's table, same key
    assert hw["ann_effective_macs_per_sample"] == report["ann"]["totals"]["macs"]
    assert hw["energy_uj"]["loihi"] > 0 and hw["energy_uj"]["cmos-45nm"] > 0 and hw["energy_uj"]["loihi2"] is None
    assert (out / "hardware" / "report.md").is_file()
    assert summary["snn_kd"]["test_acc"] >= 0.94 and summary["snn_kd"]["method"] == "response"
    bw = summary["snn_blockwise"]  # the headline student: blockwise + rate-BP
    assert bw["test_acc"] >= 0.94 and bw["method"] == "blockwise" and bw["backprop"] == "rate"
    assert bw["train_seconds"] > 0 and bw["peak_mem_mb"] is not None
    assert summary["nir"]["model"] == "snn_blockwise" and summary["hardware"]["model"] == "snn_blockwise"
    assert set(summary["stage_seconds"]) >= {"teacher", "snn", "snn_kd", "snn_blockwise", "nir", "lava", "lava_residual",
                                              "hardware"}
    assert "| teacher" in r.stdout and "| snn" in r.stdout and "| snn_kd" in r.stdout
    assert "| snn_blockwise" in r.stdout
