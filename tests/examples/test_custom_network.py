"""``examples/python/custom_network.py`` runs as printed and learns (a user's own MultiStep network)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_custom_network_example_trains_on_digits(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / "custom_network.py"), "--epochs", "1"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    acc = float(re.search(r"epoch 1: loss [\d.]+, test accuracy ([\d.]+)", r.stdout).group(1))
    assert acc > 0.6  # chance is 0.1; one epoch reaches ~0.89
    rates = [float(v) for v in r.stdout.split("firing rates per LIF layer:")[1].split(",")]
    assert len(rates) == 2 and all(0 < v < 1 for v in rates)
