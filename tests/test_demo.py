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
    hw = summary["hardware"]
    assert hw["synops_per_sample"] > 0 and hw["ann_macs_per_sample"] > 0 and hw["T"] == 4
    assert hw["energy_uj"]["loihi"] > 0 and hw["energy_uj"]["cmos-45nm"] > 0 and hw["energy_uj"]["loihi2"] is None
    assert (out / "hardware" / "report.md").is_file()
    assert summary["snn_kd"]["test_acc"] >= 0.94 and summary["snn_kd"]["method"] == "response"
    assert "| teacher" in r.stdout and "| snn" in r.stdout and "| snn_kd" in r.stdout
