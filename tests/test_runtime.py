"""The process policy: OpenMP threads sleep while they wait and use the CPUs the process owns, never over a
setting the user made; the `neurokd` command sets it before torch loads."""

import os
import subprocess
import sys

import pytest
import torch

from neurokd import runtime


def test_policy_sets_passive_waiting_and_leaves_user_settings_alone():
    env = {}
    assert runtime.apply_process_policy(env, cpus=os.cpu_count()) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    for user in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "10000"}, {"KMP_BLOCKTIME": "1"}):
        env = dict(user)
        assert runtime.apply_process_policy(env, cpus=os.cpu_count()) == {}
        assert env == user


def test_policy_caps_threads_at_the_cpus_this_process_owns():
    """A cpuset or quota smaller than the machine: OMP_NUM_THREADS is set to it, unless the user set a count."""
    machine = os.cpu_count()
    env = {}
    chosen = runtime.apply_process_policy(env, cpus=1)
    assert chosen.get("OMP_NUM_THREADS") == ("1" if machine > 1 else None)
    env = {"MKL_NUM_THREADS": "3"}
    assert "OMP_NUM_THREADS" not in runtime.apply_process_policy(env, cpus=1)


def test_thread_count_prefers_train_threads_then_the_environment():
    assert runtime.thread_count(3, torch_default=8, environ={}, cpus=2) == 3  # --train.threads wins
    assert runtime.thread_count(None, torch_default=8, environ={"OMP_NUM_THREADS": "5"}, cpus=2) is None
    assert runtime.thread_count(None, torch_default=8, environ={}, cpus=2) == 2  # capped at owned CPUs
    assert runtime.thread_count(None, torch_default=2, environ={}, cpus=16) == 2  # never above torch's default


def test_apply_threads_sets_torch():
    before = torch.get_num_threads()
    try:
        assert runtime.apply_threads(1) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("text,cpus", [("200000 100000\n", 2), ("150000 100000", 2), ("max 100000", None),
                                       ("garbage", None)])
def test_cgroup_quota(tmp_path, text, cpus):
    path = tmp_path / "cpu.max"
    path.write_text(text)
    assert runtime._cgroup_cpus(path) == cpus
    assert runtime._cgroup_cpus(tmp_path / "missing") is None
    assert 1 <= runtime.available_cpus(path) <= os.cpu_count()


_PROBE = """
import sys
import neurokd.runtime as r
apply = r.apply_process_policy
def checked(*a, **k):
    assert "torch" not in sys.modules, "torch was imported before the OpenMP policy"
    return apply(*a, **k)
r.apply_process_policy = checked
import os, neurokd.cli, torch
print(os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize("user", [None, "ACTIVE"])
def test_the_command_sets_the_policy_before_torch_loads(user):
    env = {k: v for k, v in os.environ.items() if k not in runtime.WAIT_SETTINGS}
    if user:
        env["OMP_WAIT_POLICY"] = user
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (user or "PASSIVE")
