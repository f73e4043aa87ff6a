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
    assert summary["snn_kd"]["test_acc"] >= 0.94 and summary["snn_kd"]["method"] == "response"
    assert "| teacher" in r.stdout and "| snn" in r.stdout and "| snn_kd" in r.stdout
