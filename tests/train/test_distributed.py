"""torch.distributed: 2 CPU processes (gloo) train to the weights 1 process reaches on the same global batch.

The workers are spawned with the environment torchrun sets (RANK, WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK) and
call the same entry points as the CLI; one test runs the real ``torchrun ... -m neurokd teacher`` as well.
Equality needs ``train.sync_bn``: every model here has BatchNorm, and without synchronized statistics each
process would normalise with its own half batch's statistics (see test_without_sync_bn_bn_statistics_differ).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from neurokd import load_model
from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.errors import ConfigError
from neurokd.runs.checkpoint import list_checkpoints

# Measured max |w(2 procs) - w(1 proc)| after 2 epochs (AdamW): ANN 3e-6, KD student 2e-7, rate-BP SNN 2e-7, blockwise
# (rate-BP) student 4e-4, BPTT SNN 5e-4 (3e-6
# after its first epoch: a spike threshold crossing that float rounding tips one way amplifies later on; two
# single-process runs that differ only in memory layout, train.channels_last on/off, differ by 4.9e-4 as well).
ATOL = {"ann": 1e-4, "kd": 1e-4, "snn": 2e-3, "rate": 2e-3, "blockwise": 2e-3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cfg(out: str, name: str, kind: str, **over):
    base = {"name": name, "out_dir": out, "train.progress": False, "optim.epochs": 2, "model.width": 8,
            "model.kind": kind, "model.T": 2, "train.threads": 1, "data.batch_size": 64, "train.sync_bn": True}
    base.update(over)
    return build_config(RunConfig, overrides=base)


def _distill_cfg(out: str, name: str, teacher: str):
    return _cfg(out, name, "snn", **{"distill.method": "response+feature", "distill.teacher": teacher})


def _runs(out: str, teacher: str, suffix: str) -> None:
    """The trainings the test compares: ANN teacher, SNN by BPTT, SNN by response+feature KD, SNN by rate-BP and
    by block-wise replacement with rate-BP (BatchNorm synchronized inside rate-BP's two passes too)."""
    from neurokd.distill import distill
    from neurokd.train import run_training

    run_training(_cfg(out, f"ann{suffix}", "ann"))
    run_training(_cfg(out, f"snn{suffix}", "snn"))
    distill(_distill_cfg(out, f"kd{suffix}", teacher))
    run_training(_cfg(out, f"rate{suffix}", "snn", **{"train.backprop": "rate"}))
    distill(_cfg(out, f"blockwise{suffix}", "snn", **{"distill.method": "blockwise", "distill.teacher": teacher,
                                                      "train.backprop": "rate"}))


def _worker(rank: int, world: int, port: int, out: str, teacher: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from neurokd.train import run_training
    from neurokd.train.distributed import distributed_session

    with distributed_session("cpu"):  # one process group for all runs (each run would otherwise join its own)
        _runs(out, teacher, "2")
        # resume under DDP: pretend the job died during epoch 2 (its checkpoint and final files never landed)
        run_dir = Path(out) / "ann2"
        torch.distributed.barrier()
        if rank == 0:
            last = [path for epoch, path in list_checkpoints(run_dir) if epoch == 2]
            for p in [run_dir / "model.safetensors", run_dir / "summary.json", *last]:
                p.unlink()
            (Path(out) / "ann2.before_resume.json").write_text((run_dir / "metrics.jsonl").read_text())
        torch.distributed.barrier()
        run_training(_cfg(out, "ann2", "ann"), resume=True)


def _max_diff(a: Path, b: Path) -> float:
    wa, wb = load_model(a).state_dict(), load_model(b).state_dict()
    assert wa.keys() == wb.keys()
    return max((wa[k].double() - wb[k].double()).abs().max().item() for k in wa)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    teacher = str(out / "ann1")
    _runs(str(out), teacher, "1")  # one process, global batch 64
    mp.spawn(_worker, args=(2, _free_port(), str(out), teacher), nprocs=2, join=True)  # 2 x 32
    return out


@pytest.mark.slow
@pytest.mark.parametrize("run", ["ann", "snn", "kd", "rate", "blockwise"])
def test_two_processes_reach_the_weights_of_one(trained, run):
    diff = _max_diff(trained / f"{run}1", trained / f"{run}2")
    print(f"\n{run}: max |w(2 procs) - w(1 proc)| = {diff:.2e}")
    assert diff < ATOL[run]
    s1 = json.loads((trained / f"{run}1" / "summary.json").read_text())
    s2 = json.loads((trained / f"{run}2" / "summary.json").read_text())
    assert s2["processes"] == 2 and s2["sync_bn"] is True and "processes" not in s1
    m1 = [json.loads(x) for x in (trained / f"{run}1" / "metrics.jsonl").read_text().splitlines()]
    m2 = [json.loads(x) for x in (trained / f"{run}2" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in m2] == [1, 2]  # rank 0 alone writes: one line per epoch
    # the BPTT SNN's and the blockwise student's epoch 2 differ by a spike flip (see ATOL)
    flips = run in ("snn", "blockwise")
    exact = 1 if flips else 2
    if not flips:
        assert s1["test_acc"] == s2["test_acc"]  # evaluation over both processes' shards covers the whole split
    else:
        assert abs(s1["test_acc"] - s2["test_acc"]) <= 2 / 360
    for a, b in zip(m1[:exact], m2[:exact]):
        assert a["val_acc"] == b["val_acc"] and a["train_acc"] == b["train_acc"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
    if run == "kd":  # the objective's adapters are trained (and synchronized) too
        assert s2["method"] == "response+feature" and s2["adapters"]


@pytest.mark.slow
def test_resume_under_ddp_matches(trained):
    assert _max_diff(trained / "ann1", trained / "ann2") < ATOL["ann"]
    lines = (trained / "ann2" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert not any(p.name.startswith(".") for p in (trained / "ann2").rglob("*"))  # no temp files


def test_batch_size_must_split_over_processes(monkeypatch):
    from neurokd.train.distributed import check_batch_size

    assert check_batch_size(64, 2) == 32
    with pytest.raises(ConfigError, match="data.batch_size.*65.*2 processes"):
        check_batch_size(65, 2)


def test_loader_shards_cover_each_global_batch_exactly_once():
    from neurokd.data.augment import build_augment
    from neurokd.data.base import ArrayDataset, Loader

    x = torch.arange(11 * 2 * 4 * 4, dtype=torch.float32).view(11, 2, 4, 4)
    ds = ArrayDataset(x, torch.arange(11))
    aug = build_augment(["crop", "flip"], (4, 4))
    whole = Loader(ds, 4, shuffle=True, seed=3, augment=aug)
    whole.set_epoch(2)
    parts = []
    for r in range(2):
        ld = Loader(ds, 4, shuffle=True, seed=3, augment=aug)
        ld.shard(r, 2, by_batch=True)
        ld.set_epoch(2)
        parts.append(list(ld))
        assert len(ld) == 3 and ld.global_batch_sizes() == [4, 4, 3]
    for i, (xb, yb) in enumerate(whole):
        torch.testing.assert_close(torch.cat([parts[0][i][0], parts[1][i][0]]), xb, rtol=0, atol=0)
        assert torch.equal(torch.cat([parts[0][i][1], parts[1][i][1]]), yb)
    ev = []
    for r in range(3):
        ld = Loader(ds, 2)
        ld.shard(r, 3, by_batch=False)
        ev += [y for _, yb in ld for y in yb.tolist()]
    assert ev == list(range(11))


def test_without_sync_bn_bn_statistics_differ():
    """Documented limit: without train.sync_bn each process normalises with its own shard's statistics."""
    from neurokd.train.distributed import DistBatchNorm2d, convert_sync_bn, restore_bn

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1), torch.nn.BatchNorm2d(2))
    bn = net[1]
    assert convert_sync_bn(net, torch.device("cpu")) == 1 and type(net[1]) is DistBatchNorm2d
    assert net[1] is bn and isinstance(bn, torch.nn.BatchNorm2d)  # same module, parameters and state keys
    x = torch.randn(8, 1, 3, 3)
    torch.testing.assert_close(net(x), torch.nn.functional.batch_norm(
        net[0](x), None, None, bn.weight, bn.bias, True))  # no process group: plain BN
    restore_bn(net)
    assert type(net[1]) is torch.nn.BatchNorm2d
    shard = net(x[:4])
    whole = net(x)[:4]
    assert not torch.allclose(shard, whole, atol=1e-3)


@pytest.mark.slow
def test_torchrun_cli(tmp_path):
    """The real launcher: ``torchrun --nproc_per_node 2 -m neurokd teacher ...`` with gloo on CPU."""
    port = _free_port()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "neurokd", "teacher", "--out-dir", str(tmp_path), "--name", "t", "--epochs", "1",
           "--model.width", "8", "--train.threads", "1", "--no-progress", "--train.sync_bn", "true",
           "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("test_acc") == 1  # rank 0 reports, once
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["test_acc"] > 0.3
    bad = subprocess.run(cmd[:-4] + ["--batch-size", "63", "--overwrite"], capture_output=True, text=True,
                         timeout=300, env=env)
    assert bad.returncode != 0 and "config key 'data.batch_size'" in bad.stderr


def test_ddp_unused_parameter_failure_becomes_a_config_hint():
    from neurokd.train.distributed import explain_ddp_error

    msg = ("Expected to have finished reduction in the prior iteration before starting a new one. ... enable unused "
           "parameter detection by passing the keyword argument `find_unused_parameters=True` to DDP")
    hint = explain_ddp_error(RuntimeError(msg))
    assert isinstance(hint, ConfigError) and "train.ddp_find_unused" in str(hint)
    assert explain_ddp_error(RuntimeError("CUDA out of memory")) is None
