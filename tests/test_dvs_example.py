"""``examples/dvs_end_to_end.py`` at tiny settings: every artifact exists and the numbers agree."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dvs_end_to_end.py"


@pytest.mark.slow
def test_dvs_end_to_end_example_tiny(tmp_path):
    out = tmp_path / "dvs"
    r = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(out), "--T", "3", "--epochs", "1", "--width", "4",
                        "--no-progress"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    dvs = s["dvs"]
    for path in (s["teacher"]["path"], s["snn_kd"]["path"], s["nir"]["path"], s["lava"]["path"], dvs["energy_report"],
                 dvs["stream_file"], out / "results.md", out / "hardware" / "report.json"):
        assert Path(path).exists(), path
    assert dvs["T"] == 3 and dvs["method"] == "response" and dvs["teacher_test_acc"] == s["teacher"]["test_acc"]
    assert dvs["stream_acc"] == dvs["test_acc"] == s["snn_kd"]["test_acc"]  # streamed = offline float SNN
    assert dvs["nir_spike_equal"] is True and abs(dvs["nir_test_acc"] - dvs["test_acc"]) < 1e-6
    assert dvs["fixed_stream_acc"] == dvs["fixed_acc"]  # loihi-fixed stream = offline fixed-point model
    assert dvs["events_per_s"] > 0 and dvs["p95_window_ms"] >= dvs["p50_window_ms"] > 0
    assert dvs["synops_per_sample"] > 0 and dvs["energy_uj"]["loihi"] > 0
    assert s["stream"]["windows"] == 3 * s["nir"]["test_samples"]  # T windows per test recording
    assert f'"test_acc": {dvs["test_acc"]}' in r.stdout and "energy uJ/sample" in r.stdout


def test_dvs_end_to_end_example_bad_settings(tmp_path):
    r = subprocess.run([sys.executable, str(EXAMPLE), "--out", str(tmp_path), "--T", "0", "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last == "dvs_end_to_end: config key 'model.T': must be >= 1, got 0"
    assert "Traceback" not in r.stderr
