"""The one-shot GPU benchmark refuses to run, in one line and with exit code 2, where torch sees no GPU."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the script would run")
def test_refuses_in_one_line_without_a_gpu(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--out-dir", str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchmarks/gpu.py: no CUDA device")
    assert list(tmp_path.iterdir()) == []  # nothing written
