"""The ``neurokd`` command: end to end, and bad input -> one line, exit code 2, nothing half-written."""

import json
import subprocess
import sys

import pytest


def neurokd(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "neurokd", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_teacher_then_eval(tmp_path):
    r = neurokd("teacher", "--out-dir", tmp_path, "--name", "t", "--epochs", 2, "--model.width", 8, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "test_acc" in r.stdout
    e = neurokd("eval", tmp_path / "t", "--json")
    assert e.returncode == 0, e.stderr
    res = json.loads(e.stdout)[0]
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert res["acc"] == summary["test_acc"] and res["kind"] == "ann"


def test_eval_of_a_model_file_uses_its_run_folders_dataset_config(tmp_path):
    r = neurokd("teacher", "--out-dir", tmp_path, "--name", "t", "--epochs", 1, "--model.width", 8, "--no-progress",
                "--data.val_fraction", 0.3)
    assert r.returncode == 0, r.stderr
    runs = [tmp_path / "t", tmp_path / "t" / "model.safetensors"]
    e = neurokd("eval", *runs, "--split", "val", "--json")
    assert e.returncode == 0, e.stderr
    folder, model_file = json.loads(e.stdout)
    assert folder["n"] == model_file["n"] and folder["acc"] == model_file["acc"]
    default = neurokd("eval", runs[1], "--split", "val", "--json", "--data.val_fraction", 0.1)
    assert json.loads(default.stdout)[0]["n"] < 0.5 * folder["n"]  # the saved 0.3 was really used above


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_malformed_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  lr: [0.1\n")
    r = neurokd("train", "-c", cfg, "--out", tmp_path / "runs")
    _one_line_error(r, "c.yaml", "malformed YAML")
    assert not (tmp_path / "runs").exists()


def test_unknown_key_and_bad_value(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("optim:\n  learning_rate: 0.1\n")
    _one_line_error(neurokd("train", "-c", cfg, "--out", tmp_path / "runs"), "optim.learning_rate", "unknown key")
    _one_line_error(neurokd("train", "--optim.epochs", "many", "--out", tmp_path / "runs"), "optim.epochs")
    assert not (tmp_path / "runs").exists()


def test_missing_dataset_folder(tmp_path):
    r = neurokd("teacher", "--dataset", "cifar10", "--data-root", tmp_path / "nowhere", "--out", tmp_path / "runs")
    _one_line_error(r, "cifar10", "data_batch_1")
    assert not (tmp_path / "runs").exists()


def test_unreadable_checkpoint(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"junk")
    _one_line_error(neurokd("eval", bad), "model.safetensors", "not a readable safetensors file")


def test_unknown_option_exits_2():
    r = neurokd("train", "--no-such-option", "1")
    assert r.returncode == 2


@pytest.mark.parametrize("cmd", ["teacher", "train", "eval", "demo"])
def test_help(cmd):
    r = neurokd(cmd, "--help")
    assert r.returncode == 0 and "usage" in r.stdout
