"""Shared material for the hostile-input suite: a tiny trained SNN/ANN pair and its exports, and the count of
cases tried, printed in pytest's terminal summary."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tests.hostile.harness import ACCEPTED, COUNTS


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        total = sum(COUNTS.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items()))
        ok = sum(ACCEPTED.values())
        terminalreporter.write_sep("-", f"hostile inputs: {total} cases tried ({parts}); {total - ok} rejected with "
                                        f"exit 2 and one error line, {ok} mutations turned out valid (exit 0)")


@pytest.fixture(scope="session")
def good(tmp_path_factory) -> dict[str, Path]:
    """Valid artifacts the cases start from: an SNN and an ANN run, its NIR and .net exports."""
    from neurokd.cli import main
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.train import run_training

    base = tmp_path_factory.mktemp("good")
    common = {"out_dir": str(base), "train.progress": False, "optim.epochs": 1, "model.width": 4, "model.T": 2,
              "train.threads": 1}
    snn = run_training(build_config(RunConfig, overrides={"name": "snn", **common})).run_dir
    ann = run_training(build_config(RunConfig, overrides={"name": "ann", "model.kind": "ann", **common})).run_dir
    nir_file, net_file = base / "model.nir", base / "model.net"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["export", "nir", str(snn), "-o", str(nir_file), "--verify", "0"]) == 0
        assert main(["export", "lava", str(snn), "-o", str(net_file), "--verify", "0", "--calibration", "32",
                     "--no-progress"]) == 0
    return {"base": base, "snn": snn, "ann": ann, "nir": nir_file, "net": net_file,
            "model": snn / "model.safetensors", "ckpt": sorted((snn / "checkpoints").iterdir())[-1]}
