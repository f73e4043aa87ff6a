"""The scripts in ``examples/python/`` run as printed (with short training) and print what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_example(name: str, *args: str, cwd: Path) -> str:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / name), *args], cwd=cwd, env=ENV,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _float(pattern: str, text: str) -> float:
    return float(re.search(pattern, text).group(1))


@pytest.mark.slow
def test_distill_and_export(tmp_path):
    out = run_example("distill_and_export.py", "--epochs", "3", cwd=tmp_path)
    student = _float(r"blockwise student ([\d.]+)", out)
    assert student > 0.5 and _float(r"NIR file .*test accuracy ([\d.]+)", out) == student  # spike-exact import
    assert abs(_float(r"Loihi 2 fixed point: test accuracy ([\d.]+)", out) - student) < 0.05
    assert _float(r"SynOps/sample (\d+)", out) > 0 and "loihi" in out
    assert (tmp_path / "runs" / "ex-blockwise" / "report" / "report.json").is_file()


def test_own_teacher(tmp_path):
    out = run_example("own_teacher.py", "--epochs", "2", cwd=tmp_path)
    assert _float(r"MLP teacher test accuracy ([\d.]+)", out) > 0.9
    assert "teacher recorded as <Sequential module>" in out and _float(r"student test accuracy ([\d.]+)", out) > 0.3


def test_snntorch_nir_report(tmp_path):
    out = run_example("snntorch_nir_report.py", "--out", "rep", cwd=tmp_path)
    assert "snnTorch's own simulation on 360 test digits: True" in out
    assert _float(r"SynOps/sample (\d+)", out) > 0 and (tmp_path / "rep" / "report.json").is_file()


@pytest.mark.slow
def test_stream_dvs(tmp_path):
    out = run_example("stream_dvs.py", "--epochs", "2", "--limit", "20", cwd=tmp_path)
    assert int(re.search(r"(\d+) windows", out).group(1)) == 20 * 6
    assert _float(r"last window: ([\d.]+)", out) > 0.3 and _float(r"p95 window latency ([\d.]+)", out) > 0
