"""Hostile command-line values: zero, negative and non-finite numbers, unknown names."""

from __future__ import annotations

import numpy as np
import pytest

from tests.hostile.harness import feed


def _cases(g, d):
    snn, net, ev = g["snn"], g["net"], d / "ev.npy"
    stream = ["stream", snn, "--events", ev, "--window-ms", "1"]
    out = []
    for T in ("0", "-1"):
        out += [["eval", snn, "--T", T], ["robustness", snn, "--T", T, "--out", d / "rob", "--no-progress"],
                ["export", "nir", snn, "--T", T, "-o", d / "x.nir"], ["export", "lava", snn, "--T", T, "-o", d / "x.net"],
                ["report", snn, "--T", T, "--out", d / "rep", "--no-progress"],
                ["convert", g["ann"], "--T", T, "--out-dir", d / "runs", "--name", "c", "--no-progress"]]
    out += [
        [*stream, "--steps-per-window", "0"], [*stream, "--max-batch", "0"], [*stream, "--threads", "0"],
        [*stream, "--backend", "nope"], ["stream", snn, "--events", ev, "--window-ms", "-1"],
        ["stream", snn, "--events", ev, "--window-ms", "nan"], ["stream", snn, "--events", ev, "--window-ms", "inf"],
        ["simulate", "lava", net, "--limit", "0"], ["simulate", "lava", net, "--limit", "-3"],
        ["simulate", "lava", net, "--batch-size", "0"],
        ["export", "nir", snn, "--dt", "0", "-o", d / "y.nir"], ["export", "nir", snn, "--dt", "-1", "-o", d / "y.nir"],
        ["export", "nir", snn, "--dt", "nan", "-o", d / "y.nir"], ["export", "nir", snn, "--verify", "-1", "-o", d / "y.nir"],
        ["export", "lava", snn, "--input-bits", "0", "-o", d / "y.net"],
        ["export", "lava", snn, "--input-bits", "99", "-o", d / "y.net"],
        ["report", snn, "--latency-ms", "nan", "--out", d / "rep", "--no-progress"],
        ["report", snn, "--max-samples", "0", "--out", d / "rep"],
        ["robustness", snn, "--corruptions", "nope", "--out", d / "rob"],
        ["robustness", snn, snn, "--names", "a,a", "--out", d / "rob"],
        ["eval", snn, "--data.batch_size", "0"], ["eval", snn, "--data.name", "cifar10"],
        ["demo", "--T", "0", "--out", d / "demo"],
    ]
    for key, value in [("optim.lr", ".nan"), ("optim.lr", ".inf"), ("model.neuron.threshold", ".nan"),
                       ("optim.lr", "-1"), ("data.val_fraction", "0.9"), ("model.T", "0"), ("seed", "-1"),
                       ("data.batch_size", "0"), ("optim.epochs", "1.5"), ("train.threads", "0")]:
        out.append(["train", "--out-dir", d / "runs", "--name", "q", f"--{key}", value])
    return out


def test_bad_argument_values(good, tmp_path):
    ev = np.zeros(20, np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")]))
    ev["t"] = np.arange(20) * 100
    np.save(tmp_path / "ev.npy", ev)
    cases = _cases(good, tmp_path)
    for argv in cases:
        feed("arguments", argv, [tmp_path])
    assert len(cases) == 45


@pytest.mark.parametrize("argv", [[], ["nope"], ["train", "--nope", "1"], ["eval"], ["export", "nir"],
                                  ["train", "--epochs"], ["train", "-c"]])
def test_usage_errors(argv, tmp_path):
    feed("arguments", argv, [tmp_path])
