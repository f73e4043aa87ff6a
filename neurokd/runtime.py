"""CPU threads and how they wait: the policy of a neurokd process on a machine it may share with others.

torch runs its CPU kernels on an OpenMP team (GNU libgomp in the CPU wheels). By default a libgomp thread that
reaches a barrier first spins there for ``GOMP_SPINCOUNT`` = 300,000 pause loops (milliseconds on current x86)
before it sleeps. On an idle machine that saves a wake-up; beside other busy processes it burns the time slice its
partner thread needs, and every parallel op waits for the partner: the demo took 10x its idle time beside two
busy processes on 2 cores (benchmarks/contention.py measures this).

The policy, which never overrides a setting the user made:

- ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep at once, so the cores go to whoever has work), unless
  ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` or ``KMP_BLOCKTIME`` is set. OpenMP reads it once, when it loads, so
  :func:`apply_process_policy` runs in the ``neurokd`` command before anything imports torch; child processes
  inherit it.
- threads: the CPUs this process may use (:func:`available_cpus`: its affinity mask and cgroup CPU quota) if
  that is fewer than torch's own default (the machine's physical cores, which a container may not own), unless
  ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` is set or the run sets ``train.threads`` (:func:`apply_threads`).

This module imports nothing heavy at load (it must run before torch does).
"""

from __future__ import annotations

import math
import os
from collections.abc import MutableMapping
from pathlib import Path

WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
THREAD_SETTINGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _cgroup_cpus(path: Path = CGROUP_CPU_MAX) -> int | None:
    """CPUs' worth of time the cgroup v2 quota allows (``"200000 100000"`` -> 2), None without a quota."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def available_cpus(cgroup_cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may run on: its affinity mask (taskset, cpusets), capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpus(cgroup_cpu_max)
    return max(1, min(cpus, quota) if quota else cpus)


def apply_process_policy(environ: MutableMapping[str, str] | None = None,
                         cpus: int | None = None) -> dict[str, str]:
    """Set the OpenMP environment of this process (see the module docstring) where the user has not; call it
    before torch is imported. Returns the variables it set."""
    env = os.environ if environ is None else environ
    cpus = available_cpus() if cpus is None else cpus
    chosen: dict[str, str] = {}
    if not any(k in env for k in WAIT_SETTINGS):
        chosen["OMP_WAIT_POLICY"] = "PASSIVE"
    if not any(k in env for k in THREAD_SETTINGS) and cpus < (os.cpu_count() or cpus):
        chosen["OMP_NUM_THREADS"] = str(cpus)  # torch would count the machine's cores, not ours
    env.update(chosen)
    return chosen


def thread_count(requested: int | None, torch_default: int, environ: MutableMapping[str, str] | None = None,
                 cpus: int | None = None) -> int | None:
    """Threads to set for a run: ``requested`` (``train.threads``) if given; None (leave torch's) when the
    environment sets a thread count; else torch's default capped at :func:`available_cpus`."""
    env = os.environ if environ is None else environ
    if requested:
        return int(requested)
    if any(k in env for k in THREAD_SETTINGS):
        return None
    return max(1, min(torch_default, available_cpus() if cpus is None else cpus))


def apply_threads(requested: int | None) -> int:
    """Set torch's CPU thread count by :func:`thread_count`; returns the count in effect."""
    import torch

    n = thread_count(requested, torch.get_num_threads())
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()


__all__ = ["apply_process_policy", "apply_threads", "available_cpus", "thread_count"]
