"""Crash safety: training killed with SIGKILL at random points, resumed each time, ends exactly where an
uninterrupted run ends; no checkpoint is ever half-written.

Robust to machine speed: each kill waits for the next epoch's checkpoint to appear, then lands after a seeded
random fraction of one epoch's duration (measured on this machine), so it falls mid-run whether the machine is
idle or loaded. A kill that comes too late (the run had already finished) is not counted; at least one kill must
land (with 8 epochs and at most one epoch of delay it always does unless epochs take no time at all).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from neurokd import load_model
from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.runs.checkpoint import list_checkpoints, read_checkpoint
from neurokd.train import run_training

EPOCHS, KILLS, SEED = 8, 3, 1234
ARGS = {"model.width": "8", "model.T": "2", "train.threads": "1", "data.batch_size": "128", "seed": "3"}


def _cmd(out: Path, resume: bool) -> list[str]:
    extra = [a for k, v in ARGS.items() for a in (f"--{k}", v)]
    return [sys.executable, "-m", "neurokd", "train", "--out-dir", str(out), "--name", "killed", "--epochs", str(EPOCHS),
            "--no-progress", *extra, *(["--resume"] if resume else [])]


def _all_checkpoints_load(run: Path) -> None:
    folder = run / "checkpoints"
    for p in folder.iterdir() if folder.is_dir() else []:
        if p.name.startswith("."):  # a temporary file of a write cut short: never renamed, never read
            assert p.name.endswith(".tmp"), p
            continue
        read_checkpoint(p)  # raises on a half-written file
    for name in ("model.safetensors",):
        if (run / name).exists():
            load_model(run / name)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_repeated_sigkill_and_resume_match_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = run_training(build_config(RunConfig, overrides={
        "name": "straight", "out_dir": str(tmp_path), "optim.epochs": EPOCHS, "train.progress": False,
        **{k: int(v) for k, v in ARGS.items()}}))
    epoch_s = max(m["epoch_s"] for m in _metrics(ref.run_dir))
    rng = random.Random(SEED)
    run = tmp_path / "killed"
    landed, resume = 0, False
    for _ in range(KILLS):
        done = [e for e, _p in list_checkpoints(run)] if run.exists() else []
        target = run / "checkpoints" / f"epoch_{(max(done) if done else 0) + 1:04d}.safetensors"
        proc = subprocess.Popen(_cmd(tmp_path, resume), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env)
        deadline = time.time() + 120
        while not target.exists() and proc.poll() is None:
            assert time.time() < deadline, "no checkpoint within 2 minutes"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 1.5) * epoch_s)  # anywhere: mid-epoch, in a checkpoint write, at the end
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            landed += proc.wait() == -signal.SIGKILL
        else:
            proc.wait()
        resume = True
        _all_checkpoints_load(run)
        if (run / "summary.json").exists():
            break  # finished before the kill: nothing left to interrupt
    assert landed >= 1
    print(f"\n{landed} SIGKILLs landed mid-run ({epoch_s:.2f} s/epoch)")
    subprocess.run(_cmd(tmp_path, True), check=True, capture_output=True, env=env, timeout=300)
    _all_checkpoints_load(run)
    assert not [p for p in run.rglob("*") if p.name.startswith(".")]  # resume dropped stale temp files
    a = json.loads((ref.run_dir / "summary.json").read_text())
    b = json.loads((run / "summary.json").read_text())
    assert (a["test_acc"], a["test_loss"]) == (b["test_acc"], b["test_loss"])
    ma, mb = _metrics(ref.run_dir), _metrics(run)
    assert [m["epoch"] for m in mb] == list(range(1, EPOCHS + 1))
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert [m[key] for m in ma] == [m[key] for m in mb], key
    wa, wb = load_model(ref.run_dir).state_dict(), load_model(run).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
