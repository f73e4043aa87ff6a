"""Writers in a hostile environment: ``export nir|lava``, ``report``, ``robustness`` and ``stream --json/--plot``
writing onto a read-only file system, a full disk (a small tmpfs this test mounts and fills), below a regular
file, onto an existing folder, or into a folder they may not write (as an unprivileged user). Each must end with
exit 2 and one line naming the path and the cause, with nothing new left behind (no partial file, no
temporary file, no folder it created); a report killed mid-write leaves temporary files that the next report
into the same folder removes.

Mounting needs root (as on CI); elsewhere the mount cases are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurokd.cli import main
from tests.hostile.harness import COUNTS, event_file, feed

FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PAGE = 4096
WRITERS = ["export-nir", "export-lava", "report", "robustness", "stream-json", "stream-plot"]
CAUSES = {"read-only": "read-only file system", "full": "no space left", "parent-is-file": "is a file",
          "target-is-folder": "is a folder", "no-permission": "permission denied"}


def _writer(name: str, good: dict[str, Path], events: Path, out: Path) -> tuple[list, Path]:
    """argv of a writer whose outputs go under ``out``, and the one output path it is named by."""
    snn = good["snn"]
    target = {"export-nir": out / "m.nir", "export-lava": out / "m.net", "report": out / "rep",
              "robustness": out / "rob", "stream-json": out / "s.json", "stream-plot": out / "s.png"}[name]
    argv = {
        "export-nir": ["export", "nir", snn, "-o", target, "--verify", "0"],
        "export-lava": ["export", "lava", snn, "-o", target, "--verify", "0", "--calibration", "32",
                        "--no-progress"],
        "report": ["report", snn, "--chip", "loihi", "--out", target, "--max-samples", "8", "--no-progress"],
        "robustness": ["robustness", snn, "--out", target, "--corruptions", "gaussian", "--no-progress"],
        "stream-json": ["stream", snn, "--events", events, "--window-ms", "1", "--json", target],
        "stream-plot": ["stream", snn, "--events", events, "--window-ms", "1", "--plot", target],
    }[name]
    return argv, target


_LIBC = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MNT_DETACH = 1, 2


def _mount(where: Path, options: str, read_only: bool = False) -> None:
    """Mount a tmpfs at ``where`` with the mount(2) call itself: no child process that a loaded machine could
    fail to fork, so the fixture can always undo it (umount2, below)."""
    where.mkdir(parents=True, exist_ok=True)
    if _LIBC.mount(b"tmpfs", str(where).encode(), b"tmpfs", MS_RDONLY if read_only else 0, options.encode()):
        pytest.skip(f"cannot mount a tmpfs here ({os.strerror(ctypes.get_errno())}): needs root")


def _umount(where: Path) -> None:
    _LIBC.umount2(str(where).encode(), MNT_DETACH)


@pytest.fixture(scope="module")
def mounts():
    """A read-only tmpfs and a 4 MiB tmpfs to fill, mounted for this module (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only or a full file system needs root")
    base = Path(tempfile.mkdtemp(prefix="neurokd-mounts-"))
    ro, full = base / "ro", base / "full"
    try:
        _mount(ro, "size=1m", read_only=True)
        _mount(full, "size=4m")
        yield {"read-only": ro, "full": full}
    finally:
        for m in (ro, full):
            _umount(m)
        shutil.rmtree(base, ignore_errors=True)


def _fill(full: Path, free_pages: int) -> None:
    """Empty the tmpfs, then fill it so that ``free_pages`` pages stay free."""
    for p in full.iterdir():
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    st_ = os.statvfs(full)
    filler = (st_.f_bavail - free_pages) * st_.f_frsize
    with open(full / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, filler))
    assert os.statvfs(full).f_bavail <= free_pages


@FUZZ
@given(writer=st.sampled_from(WRITERS), fault=st.sampled_from(["read-only", "full"]), data=st.data())
def test_writers_on_read_only_and_full_file_systems(good, mounts, writer, fault, data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        events = event_file(d / "ev.npy", 2000, 1000)
        mount = mounts[fault]
        if fault == "full":
            _fill(mount, data.draw(st.integers(0, 6)))
        sub = data.draw(st.sampled_from(["", "new/deeper"]))  # outputs may ask for folders too
        out = mount / sub if sub else mount
        argv, target = _writer(writer, good, events, out)
        _code, err = feed("environment", argv, [mount, d])
        assert CAUSES[fault] in err and str(mount) in err, err


@FUZZ
@given(writer=st.sampled_from(WRITERS), fault=st.sampled_from(["parent-is-file", "target-is-folder"]),
       depth=st.integers(0, 2))
def test_writers_below_a_file_or_onto_a_folder(good, writer, fault, depth):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        events = event_file(d / "ev.npy", 2000, 1000)
        if fault == "parent-is-file":
            blocker = d / "plain.txt"
            blocker.write_text("a regular file")
            out = blocker.joinpath(*["sub"] * depth)
            argv, _target = _writer(writer, good, events, out)
        else:
            argv, target = _writer(writer, good, events, d / "out")
            folder = target / {"report": "report.json", "robustness": "robustness.png"}.get(writer, "")
            folder.mkdir(parents=True)
            (folder / "keep.txt").write_text("mine")
        _code, err = feed("environment", argv, [d])
        assert CAUSES[fault] in err, err


def _as_nobody(argv: list) -> tuple[int, str]:
    """``neurokd argv`` in a forked child that has dropped root for user nobody: ``(exit code, stderr)``. The
    parent has run the same command once, so every module it needs is imported (the interpreter's own files
    may not be readable by nobody)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 99
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            sys.stderr = os.fdopen(w, "w", buffering=1)
            with contextlib.redirect_stdout(io.StringIO()):
                code = main([str(a) for a in argv])
        except BaseException:  # noqa: BLE001 - reported through the pipe, as a crash
            traceback.print_exc(file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as fh:
        err = fh.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


@pytest.mark.parametrize("writer", ["export-lava", "report", "stream-json"])
def test_writers_into_a_folder_they_may_not_write(good, writer):
    """Permission denied. Root may write anywhere, so as root the command runs in a child process that has
    become user nobody; otherwise in-process on a folder without write permission."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        os.chmod(d, 0o755)
        shutil.copytree(good["snn"], d / "snn")
        for p in [d / "snn", *(d / "snn").rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        events = event_file(d / "ev.npy", 2000, 1000)
        locked = d / "locked"
        locked.mkdir()
        os.chmod(locked, 0o555)
        argv, _target = _writer(writer, {**good, "snn": d / "snn"}, events, locked)
        if os.geteuid() != 0:
            feed("environment", argv, [locked])
            return
        warm, _ = _writer(writer, {**good, "snn": d / "snn"}, events, d / "warm")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main([str(a) for a in warm]) == 0
        COUNTS["environment"] += 1
        code, err = _as_nobody(argv)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert CAUSES["no-permission"] in lines[0] and str(locked) in lines[0], lines[0]
        assert not list(locked.iterdir())


# ------------------------------------------------------------------------------ temporary files of the dead

def _dead_pid() -> int:
    """A process id no process can have (above the kernel's pid_max): a writer that is surely gone."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


@settings(FUZZ, max_examples=8)
@given(names=st.lists(st.sampled_from(["report.md", "report.tex", "report.json", "report.png"]), min_size=1,
                      max_size=4, unique=True), live=st.booleans())
def test_a_later_report_removes_what_a_killed_one_left(good, names, live):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        rep = d / "rep"
        rep.mkdir()
        dead = [rep / f".{n}.{_dead_pid()}-x{i}y.tmp" for i, n in enumerate(names)]
        alive = [rep / f".{names[0]}.{os.getppid()}-live.tmp"] if live else []  # a writer still at work
        for p in dead + alive:
            p.write_bytes(b"half a file")
        argv, _ = _writer("report", good, d, d)
        _code, err = feed("environment", argv, [d], may_succeed=True)
        assert _code == 0, err
        left = sorted(p.name for p in rep.iterdir() if p.name.endswith(".tmp"))
        assert left == sorted(p.name for p in alive), left


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [3.0, 4.5, 6.0])
def test_a_report_killed_while_writing_leaves_nothing_a_rerun_keeps(good, kill_after, tmp_path):
    """A real ``neurokd report`` killed with SIGKILL after ``kill_after`` s, then run again into the same folder:
    the folder holds the four complete files and no temporary file."""
    argv, rep = _writer("report", good, tmp_path, tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "neurokd", *map(str, argv)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=kill_after)
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    time.sleep(0.1)
    code, err = feed("environment", argv, [tmp_path], may_succeed=True)
    assert code == 0, err
    assert sorted(x.name for x in rep.iterdir()) == ["report.json", "report.md", "report.png", "report.tex"]
