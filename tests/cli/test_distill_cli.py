"""``neurokd distill`` and ``neurokd robustness`` from the command line."""

import json
import subprocess
import sys

import pytest


def neurokd(*args):
    return subprocess.run([sys.executable, "-m", "neurokd", *map(str, args)], capture_output=True, text=True)


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_distill_end_to_end_and_bad_teachers(tmp_path):
    small = ["--model.width", 8, "--train.threads", 1, "--no-progress", "--out-dir", tmp_path]
    t = neurokd("teacher", "--name", "t", "--epochs", 2, *small)
    assert t.returncode == 0, t.stderr
    r = neurokd("distill", "--teacher", tmp_path / "t", "--method", "response+feature", "--per-step", "--alpha", 0.7,
                "--taps", "stage2,last", "--name", "kd", "--epochs", 1, "--T", 2, *small)
    assert r.returncode == 0, r.stderr
    assert "response-step+feature KD" in r.stdout
    s = json.loads((tmp_path / "kd" / "summary.json").read_text())
    assert (s["method"], s["alpha"], s["taps"]) == ("response-step+feature", 0.7, ["stage2", "stage3"])
    cfg = (tmp_path / "kd" / "config.yaml").read_text()
    assert "per_step: true" in cfg and str(tmp_path / "t") in cfg  # the run folder describes the method
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00\x01")
    _one_line_error(neurokd("distill", "--teacher", bad, "--name", "x", *small), "bad.pt", "weights-only")
    _one_line_error(neurokd("distill", "--name", "y", *small), "distill.teacher", "--teacher")
    _one_line_error(neurokd("distill", "--teacher", tmp_path / "t", "--method", "logits", "--name", "z", *small),
                    "distill.method")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_distill_blockwise_with_rate_backprop(tmp_path):
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.train import run_training

    small = ["--model.width", 8, "--train.threads", 1, "--no-progress", "--out-dir", tmp_path]
    run_training(build_config(RunConfig, overrides={"name": "t", "out_dir": str(tmp_path), "model.kind": "ann",
                                                    "model.width": 8, "optim.epochs": 1, "train.progress": False}))
    r = neurokd("distill", "--teacher", tmp_path / "t", "--method", "blockwise", "--train.backprop", "rate",
                "--distill.branches", "stage2", "--name", "bw", "--epochs", 1, "--T", 2, *small)
    assert r.returncode == 0, r.stderr
    assert "blockwise KD" in r.stdout
    s = json.loads((tmp_path / "bw" / "summary.json").read_text())
    assert (s["method"], s["branches"], s["branch_weights"], s["backprop"]) == ("blockwise", ["stage2"], [0.5], "rate")
    _one_line_error(neurokd("distill", "--teacher", tmp_path / "t", "--method", "blockwise", "--distill.branches",
                            "stage9", "--name", "bw9", *small), "distill.branches", "stage9")
    assert not (tmp_path / "bw9").exists()


def test_distill_blockwise_resnet1d_on_a_generated_mnist1d(tmp_path, monkeypatch):
    """The deep 1-D twin end to end from the command line: teacher, then blockwise (branches after stage1..3)."""
    monkeypatch.setenv("NEUROKD_CACHE", str(tmp_path / "cache"))
    small = ["--dataset", "mnist1d", "--data.num_samples", 500, "--arch", "resnet1d", "--model.width", 4,
             "--train.threads", 1, "--no-progress", "--out-dir", tmp_path, "--epochs", 1]
    t = neurokd("teacher", "--name", "t", *small)
    assert t.returncode == 0, t.stderr
    r = neurokd("distill", "--teacher", tmp_path / "t", "--method", "blockwise", "--backprop", "rate", "--T", 2,
                "--name", "bw", *small)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "bw" / "summary.json").read_text())
    assert (s["arch"], s["branches"], s["branch_weights"]) == ("resnet1d", ["stage1", "stage2", "stage3"],
                                                               [0.125, 0.25, 0.5])
    assert "num_samples: 500" in (tmp_path / "bw" / "config.yaml").read_text()
    _one_line_error(neurokd("teacher", "--name", "t2", *small[:2], "--data.num_samples", 505, "--out-dir", tmp_path),
                    "data.num_samples", "multiple of 10")


def test_train_does_not_take_distill_keys(tmp_path):
    assert neurokd("train", "--distill.method", "response", "--out", tmp_path).returncode == 2
    cfg = tmp_path / "kd.yaml"
    cfg.write_text("distill:\n  method: response\n")
    _one_line_error(neurokd("train", "-c", cfg, "--out", tmp_path / "runs"), "neurokd distill")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("cmd", ["distill", "robustness"])
def test_help(cmd):
    r = neurokd(cmd, "--help")
    assert r.returncode == 0 and "usage" in r.stdout
