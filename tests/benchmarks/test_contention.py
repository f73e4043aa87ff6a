"""The contention benchmark's machinery: competitors start and stop, slowdowns are wall time over idle, and the
workload's environment carries the policy under test instead of the caller's OpenMP settings."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import contention  # noqa: E402 (benchmarks is not a package)


def test_competitors_start_busy_and_stop():
    procs = contention.start_competitors(2, "python")
    try:
        assert all(p.poll() is None for p in procs)  # running after reporting ready
    finally:
        contention.stop(procs)
    assert all(p.returncode is not None for p in procs)


def test_slowdowns_are_wall_time_over_idle(monkeypatch):
    walls = iter([(10.0, 4.0), (25.0, 5.0), (40.0, 6.0)])
    monkeypatch.setattr(contention, "timed", lambda cmd, env: next(walls))
    monkeypatch.setattr(contention, "start_competitors", lambda n, kind: [])
    out = contention.measure(["x"], {}, (0, 1, 2), "numpy")
    assert out == {"idle_s": 10.0, "slowdown_1": 2.5, "slowdown_2": 4.0,
                   "wall_s": {"0": 10.0, "1": 25.0, "2": 40.0}, "cpu_s": {"0": 4.0, "1": 5.0, "2": 6.0}}


def test_workload_environment_is_the_policy_under_test(tmp_path, monkeypatch):
    """The workload sees the policy's variables and none of the caller's OpenMP settings."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    probe = tmp_path / "env.txt"
    cmd = [sys.executable, "-c", "import os, sys; open(sys.argv[1], 'a').write(repr((os.environ.get("
           "'OMP_WAIT_POLICY'), os.environ.get('OMP_NUM_THREADS'), os.environ.get('GOMP_SPINCOUNT'))) + '\\n')",
           str(probe)]
    out = contention.measure(cmd, contention.POLICIES["spin"], (0, 1), "python")
    assert set(out) == {"idle_s", "slowdown_1", "wall_s", "cpu_s"}
    assert probe.read_text().splitlines() == ["(None, None, '300000')"] * 2


def test_workload_commands_run_the_neurokd_command():
    cmds = contention.workloads(Path("/tmp/x"), 3, smoke=False)
    assert cmds["demo"][1:4] == ["-m", "neurokd", "demo"]
    assert cmds["train"][1:4] == ["-m", "neurokd", "train"] and "resnet1d" in cmds["train"]
    assert cmds["train"][cmds["train"].index("--optim.epochs") + 1] == "3"


def test_the_train_workload_is_a_valid_command(tmp_path):
    """The measured command itself runs (smoke size): a renamed CLI flag fails here, not after an hour of
    benchmarking."""
    import subprocess

    cmd = contention.workloads(tmp_path, 1, smoke=True)["train"]
    r = subprocess.run([*cmd, "--train.threads", "1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "contention" / "summary.json").exists()
