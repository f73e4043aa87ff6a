"""The run-folder lock: one holder at a time, named when another is refused, never stale after a kill, and no
two holders when a release races a new lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from neurokd.runs import lock as lock_module
from neurokd.runs.lock import LOCK_NAME, FolderLock, RunFolderInUse


def test_one_holder_at_a_time_and_the_refusal_names_it(tmp_path):
    a, b = FolderLock(tmp_path), FolderLock(tmp_path)
    a.acquire()
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    with pytest.raises(RunFolderInUse, match=rf"run folder {tmp_path} is in use .*\(pid {os.getpid()}\)"):
        b.acquire()  # a second open file in the same process conflicts too
    assert not b.held
    a.release()
    assert not (tmp_path / LOCK_NAME).exists()  # a finished run keeps no lock file
    b.acquire()
    b.release()
    a.release()  # releasing twice is harmless


def test_a_lock_file_without_a_holder_yet_refuses_without_a_pid(tmp_path, monkeypatch):
    import fcntl

    monkeypatch.setattr(lock_module, "HOLDER_WAIT_S", 0.05)
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # locked, pid never written
    try:
        with pytest.raises(RunFolderInUse) as e:
            FolderLock(tmp_path).acquire()
        assert "pid" not in str(e.value)
    finally:
        os.close(fd)


def test_a_refusal_between_the_holders_lock_and_its_pid_still_names_it(tmp_path):
    """The holder locks, then writes its pid: a refusal in between waits for the pid rather than naming nobody."""
    import fcntl
    import threading

    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    writer = threading.Timer(0.2, lambda: os.pwrite(fd, b"424242 elsewhere\n", 0))
    writer.start()
    try:
        with pytest.raises(RunFolderInUse, match=r"\(pid 424242 on elsewhere\)"):
            FolderLock(tmp_path).acquire()
    finally:
        writer.join()
        os.close(fd)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        from neurokd.runs.lock import FolderLock
        FolderLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(120)
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderInUse, match=rf"\(pid {holder.pid}\)"):
            FolderLock(tmp_path).acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the killed holder could not clean up ...
    lock = FolderLock(tmp_path)
    lock.acquire()  # ... and its lock went with it
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    lock.release()


def test_a_release_racing_a_new_lock_never_makes_two_holders(tmp_path, monkeypatch):
    """B opens the lock file, then A releases it (unlinking it) before B locks: B's lock is on a file no longer
    at the path, so B must start over on a fresh file, and C must then be refused."""
    a, b = FolderLock(tmp_path), FolderLock(tmp_path)
    a.acquire()
    real_open, calls = os.open, []

    def open_then_release(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        calls.append(path)
        if len(calls) == 1:
            a.release()
        return fd

    monkeypatch.setattr(lock_module.os, "open", open_then_release)
    b.acquire()
    monkeypatch.setattr(lock_module.os, "open", real_open)
    assert len(calls) == 2  # opened afresh after noticing the unlinked file
    with pytest.raises(RunFolderInUse):
        FolderLock(tmp_path).acquire()
    b.release()


def test_a_symbolic_link_in_place_of_the_lock_file_is_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_NAME).symlink_to(target)
    with pytest.raises(OSError):
        FolderLock(run).acquire()
    assert target.read_text() == "keep"
