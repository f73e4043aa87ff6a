"""The training loop: learning, run-folder artifacts, checkpoints, exact resume after a real kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from neurokd import load_model
from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.errors import CheckpointError, UserError
from neurokd.runs.checkpoint import list_checkpoints, read_checkpoint
from neurokd.train import run_training


def _cfg(tmp_path, **over):
    base = {"name": "r", "out_dir": str(tmp_path), "train.progress": False, "optim.epochs": 3,
            "model.width": 8, "train.threads": 1}
    base.update(over)
    return build_config(RunConfig, overrides=base)


def test_ann_and_snn_learn_digits_and_write_the_run_folder(tmp_path):
    ann = run_training(_cfg(tmp_path, name="ann", **{"model.kind": "ann", "optim.epochs": 4}))
    snn = run_training(_cfg(tmp_path, name="snn", **{"model.kind": "snn", "optim.epochs": 4, "model.T": 2}))
    assert ann.summary["test_acc"] > 0.8 and snn.summary["test_acc"] > 0.7
    for r in (ann, snn):
        files = {p.name for p in r.run_dir.iterdir()}
        assert {"config.yaml", "metrics.jsonl", "model.safetensors", "model.json", "summary.json",
                "checkpoints"} <= files
        lines = (r.run_dir / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]
        assert [e for e, _ in list_checkpoints(r.run_dir)] == [3, 4]  # keep_checkpoints = 2
        assert not any(p.name.startswith(".") for p in r.run_dir.rglob("*"))  # no temp files left
    model = load_model(snn.run_dir)
    assert model.is_snn and model.T == 2
    x = torch.rand(5, 1, 8, 8)
    torch.testing.assert_close(model(x), snn.model.eval()(x))


def test_existing_run_folder_needs_resume_or_overwrite(tmp_path):
    run_training(_cfg(tmp_path, **{"optim.epochs": 1, "model.kind": "ann"}))
    with pytest.raises(UserError, match="--resume"):
        run_training(_cfg(tmp_path, **{"optim.epochs": 1, "model.kind": "ann"}))
    run_training(_cfg(tmp_path, **{"optim.epochs": 1, "model.kind": "ann"}), overwrite=True)


def test_unreadable_model_files_give_one_line_errors(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_model(bad)
    r = run_training(_cfg(tmp_path, **{"optim.epochs": 1}))
    ckpt = list_checkpoints(r.run_dir)[-1][1]
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        read_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.safetensors")


def test_best_val_epoch_reports_its_test_accuracy_never_selects_on_test_and_resumes_exactly(tmp_path, monkeypatch):
    from neurokd.train import loop
    from neurokd.train.objective import Objective
    from tests.train.interrupt import run_interrupted

    # Poisson input: every evaluation draws random spikes, so the test scoring must not move the training RNG
    over = {"model.kind": "snn", "model.T": 2, "model.encoder": "poisson", "optim.epochs": 5}
    straight = run_training(_cfg(tmp_path, name="straight", **over))
    lines = [json.loads(x) for x in (straight.run_dir / "metrics.jsonl").read_text().splitlines()]
    running, scored = -1.0, []
    for m in lines:  # test is scored exactly on the epochs whose val accuracy reaches the best so far
        if m["val_acc"] >= running:
            running = m["val_acc"]
            scored.append(m["epoch"])
        assert ("test_acc" in m) == (scored[-1] == m["epoch"])
    s = straight.summary
    best = max(lines, key=lambda m: (m["val_acc"], m["epoch"]))  # the later epoch on ties
    assert (s["best_val_epoch"], s["best_val_acc"], s["best_val_test_acc"]) == (
        best["epoch"], best["val_acc"], best["test_acc"])
    assert json.loads((straight.run_dir / "summary.json").read_text())["best_val_test_acc"] == best["test_acc"]

    real = loop.evaluate

    def score_test_twice(model, loader, *a, **k):  # extra random draws during the test scoring
        out = real(model, loader, *a, **k)
        if out["n"] == 360:  # digits' test split (val has 144)
            real(model, loader, *a, **k)
        return out

    monkeypatch.setattr(loop, "evaluate", score_test_twice)
    twice = run_training(_cfg(tmp_path, name="twice", **over))
    monkeypatch.setattr(loop, "evaluate", real)
    wa, wb = straight.model.state_dict(), twice.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    run_interrupted(monkeypatch, Objective, lambda: run_training(_cfg(tmp_path, name="cut", **over)))
    resumed = run_training(_cfg(tmp_path, name="cut", **over), resume=True)
    keys = ("test_acc", "best_val_acc", "best_val_epoch", "best_val_test_acc")
    assert {k: resumed.summary[k] for k in keys} == {k: s[k] for k in keys}
    cut = [json.loads(x) for x in (resumed.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in m.items() if k != "epoch_s"} for m in cut] == [
        {k: v for k, v in m.items() if k != "epoch_s"} for m in lines]


def test_no_validation_split_means_no_best_val_epoch(tmp_path):
    r = run_training(_cfg(tmp_path, **{"model.kind": "ann", "optim.epochs": 2, "data.val_fraction": 0.0}))
    assert (r.summary["best_val_acc"], r.summary["best_val_epoch"], r.summary["best_val_test_acc"]) == (None,) * 3
    resumed = run_training(_cfg(tmp_path, **{"model.kind": "ann", "optim.epochs": 3, "data.val_fraction": 0.0}),
                           resume=True)  # a resume reads the val-less records back
    assert resumed.summary["best_val_epoch"] is None


def _train_cmd(out, name, epochs, extra=()):
    return [sys.executable, "-m", "neurokd", "train", "--out-dir", str(out), "--name", name, "--epochs", str(epochs),
            "--model.width", "8", "--model.T", "2", "--train.threads", "1", "--no-progress", *extra]


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    epochs = 8
    subprocess.run(_train_cmd(tmp_path, "straight", epochs), check=True, capture_output=True)
    # a real interruption: SIGKILL right after the second epoch's checkpoint appears, while six epochs remain (a
    # fixed sleep here let an idle machine finish the run before the kill landed)
    proc = subprocess.Popen(_train_cmd(tmp_path, "killed", epochs), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt_dir = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while not (ckpt_dir / "epoch_0002.safetensors").exists():
        assert time.time() < deadline and proc.poll() is None, "training ended before it could be killed"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "summary.json").exists()
    subprocess.run(_train_cmd(tmp_path, "killed", epochs, ["--resume"]), check=True, capture_output=True)
    a = json.loads((tmp_path / "straight" / "summary.json").read_text())
    b = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert a["test_acc"] == b["test_acc"] and a["test_loss"] == b["test_loss"]
    ma = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(x) for x in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in mb] == list(range(1, epochs + 1))
    assert [m["val_acc"] for m in ma] == [m["val_acc"] for m in mb]
    assert [m["train_loss"] for m in ma] == [m["train_loss"] for m in mb]
    assert [m.get("test_acc") for m in ma] == [m.get("test_acc") for m in mb]
    assert (a["best_val_epoch"], a["best_val_test_acc"]) == (b["best_val_epoch"], b["best_val_test_acc"])
    wa = load_model(tmp_path / "straight").state_dict()
    wb = load_model(tmp_path / "killed").state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_cpu_bf16_autocast_trains_and_changes_the_numerics(tmp_path):
    over = {"model.kind": "snn", "model.T": 2, "optim.epochs": 2}
    fp32 = run_training(_cfg(tmp_path, name="fp32", **over))
    bf16 = run_training(_cfg(tmp_path, name="bf16", **over, **{"train.cpu_bf16": True}))
    assert bf16.summary["test_acc"] > 0.6
    w32, w16 = fp32.model.state_dict(), bf16.model.state_dict()
    # the option really switches the convs to bfloat16: the same seed no longer gives the same weights
    assert not all(torch.equal(w32[k], w16[k]) for k in w32)
    assert all(v.dtype == w32[k].dtype for k, v in w16.items())  # master weights stay fp32
