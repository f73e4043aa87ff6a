"""Training set-up happens once per run: ``neurokd.distill.distill`` is one call to the training loop, and each
set-up step (effective config, process group, torch settings, dataset, model spec, device) runs once, in one
process and in each of two (torch.distributed, gloo)."""

from __future__ import annotations

import json
import os
import socket
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from neurokd.config import RunConfig
from neurokd.configlib import build_config

STEPS = {  # module -> set-up functions it calls through its own globals
    "neurokd.train.loop": ("effective_config", "prepare_run"),
    "neurokd.train.setup": ("configure_torch", "load_dataset", "model_spec_for", "resolve_device"),
    "neurokd.train.distributed": ("distributed_session",),
}


def count_setup_steps(patch=setattr) -> Counter:
    """Wrap every set-up step with a counter (for this process; ``patch`` sets the attribute, e.g. pytest's
    ``monkeypatch.setattr`` to undo it after the test); returns the counter."""
    import importlib

    calls: Counter = Counter()
    for module_name, names in STEPS.items():
        module = importlib.import_module(module_name)
        for name in names:
            original = getattr(module, name)

            def wrapper(*args, _original=original, _name=name, **kwargs):
                calls[_name] += 1
                return _original(*args, **kwargs)

            patch(module, name, wrapper)
    return calls


def _cfg(out: Path, name: str, kind: str = "snn", **over) -> RunConfig:
    base = {"name": name, "out_dir": str(out), "train.progress": False, "optim.epochs": 1, "model.width": 4,
            "model.kind": kind, "model.T": 2, "train.threads": 1, "data.batch_size": 64}
    return build_config(RunConfig, overrides={**base, **over})


def _train_and_distill(out: Path, suffix: str) -> None:
    from neurokd.distill import distill
    from neurokd.train import run_training

    run_training(_cfg(out, f"teacher{suffix}", "ann"))
    distill(_cfg(out, f"kd{suffix}", **{"distill.method": "response", "distill.teacher": str(out / "teacher1")}))


def test_each_setup_step_runs_once_per_run(tmp_path, monkeypatch):
    from neurokd.train import run_training

    calls = count_setup_steps(monkeypatch.setattr)
    run_training(_cfg(tmp_path, "teacher1", "ann"))
    assert calls == Counter({name: 1 for names in STEPS.values() for name in names})
    calls.clear()
    _train_and_distill(tmp_path, "x")
    assert calls == Counter({name: 2 for names in STEPS.values() for name in names})  # two runs, once each


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from neurokd.train.distributed import distributed_session

    # one process group for both runs, as under torchrun (a second group on the same port would not form); the
    # runs' own sessions then join it, and are counted
    with distributed_session("cpu"):
        calls = count_setup_steps()
        _train_and_distill(Path(out), "2")
    Path(out, f"calls{rank}.json").write_text(json.dumps(calls))


@pytest.mark.slow
def test_each_setup_step_runs_once_per_run_in_each_of_two_processes(tmp_path):
    from neurokd.train import run_training

    run_training(_cfg(tmp_path, "teacher1", "ann"))  # the distilled students' teacher
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        calls = json.loads((tmp_path / f"calls{rank}.json").read_text())
        assert calls == {name: 2 for names in STEPS.values() for name in names}, (rank, calls)
    assert json.loads((tmp_path / "kd2" / "summary.json").read_text())["processes"] == 2
