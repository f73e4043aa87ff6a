"""Run folders in hostile situations, through ``neurokd train``: two processes on one folder, symbolic links inside
a run folder, read-only and full file systems (small tmpfs mounts this module makes), paths below a file or onto
a FIFO / device / socket, no write permission (as user nobody), and real training processes killed with SIGKILL
at every write point.

Each ends in one of: the run's exact uninterrupted result; or exit 2 with one line naming the folder (or path)
and the cause, nothing new left behind and an existing folder as it was. Cases are counted as ``runfolder`` in
the hostile-input summary. Mounting needs root; elsewhere those cases are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from neurokd.runs.lock import LOCK_NAME
from tests.hostile.environment import as_nobody, fill, mount_tmpfs, remount_read_only, unmount
from tests.hostile.harness import ACCEPTED, COUNTS
from tests.runs.helpers import cli, hidden_files, outcome, reference_run, refused, snapshot, train_argv

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _count(n: int = 1, *, finished: bool = False) -> None:
    """Count ``n`` cases; ``finished``: they ended in a run's exact result (exit 0), not in a refusal."""
    COUNTS["runfolder"] += n
    if finished:
        ACCEPTED["runfolder"] += n


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    return reference_run(tmp_path_factory.mktemp("ref"))


def _unfinished(reference, where: Path) -> Path:
    """A copy of the reference stopped after epoch 2 (resumable) at ``where``."""
    shutil.copytree(reference[0], where)
    for name in ("model.safetensors", "summary.json", "checkpoints/epoch_0003.safetensors"):
        (where / name).unlink()
    lines = (where / "metrics.jsonl").read_text().splitlines(keepends=True)
    (where / "metrics.jsonl").write_text("".join(lines[:2]))
    return where


def _popen(argv: list, *, point: str | None = None) -> subprocess.Popen:
    cmd = ["-m", "tests.runs.killpoint", point] if point else ["-m", "neurokd"]
    return subprocess.Popen([sys.executable, *cmd, *map(str, argv)], cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------------------------------- one process per folder

def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def test_a_folder_in_use_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    """While a real training process writes its folder, a new run, an --overwrite and a --resume of it are each
    refused with one line naming the folder and the holder's pid, and change nothing; once it is killed, the
    folder resumes."""
    run = tmp_path / "busy"
    trainer = _popen(train_argv(tmp_path, "busy", epochs=400))
    try:
        _wait_for(run / "checkpoints" / "epoch_0002.safetensors", trainer)
        for flags in ([], ["--overwrite"], ["--resume"], ["--resume", "--epochs", "3"]):
            refused(train_argv(tmp_path, "busy", *flags), f"run folder {run} is in use", f"(pid {trainer.pid})")
            _count()
    finally:
        os.kill(trainer.pid, signal.SIGKILL)
        trainer.wait()
    done = [int(x.split('"epoch": ')[1].split(",")[0]) for x in (run / "metrics.jsonl").read_text().splitlines()
            if x.endswith("}")]
    assert done == list(range(1, len(done) + 1))  # one writer: its own epochs in order, nothing interleaved
    code, lines = cli(train_argv(tmp_path, "busy", "--resume", "--epochs", str(len(done) + 1)))
    assert code == 0, lines
    assert hidden_files(run) == []


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_two_trainings_of_one_name_started_together_exactly_one_trains(tmp_path, reference, trial):
    procs = [_popen(train_argv(tmp_path, "ref")) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    codes = [p.returncode for p in procs]
    _count()  # the refused one
    _count(finished=True)  # the winner
    assert sorted(codes) == [0, 2], (codes, errs)
    winner = procs[codes.index(0)]
    loser = [ln for ln in errs[codes.index(2)].splitlines() if ln.strip()]
    assert len(loser) == 1 and "Traceback" not in loser[0], loser
    # refused by the lock while the winner trains, or (started late) by the finished folder
    assert f"in use by another neurokd process (pid {winner.pid})" in loser[0] or "already exists" in loser[0], loser
    assert outcome(tmp_path / "ref") == reference[1]
    assert hidden_files(tmp_path / "ref") == []


@pytest.mark.slow
def test_under_torchrun_rank_0_holds_the_lock_and_a_refusal_stops_every_rank(tmp_path, reference):
    """``torchrun --nproc_per_node 2 ... --overwrite`` on a folder another process holds: rank 0's one line
    names the holder, the other rank is stopped by the launcher, the folder is untouched."""
    run = tmp_path / "ref"
    shutil.copytree(reference[0], run)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom neurokd.runs.lock import FolderLock\n"
                               f"FolderLock({str(run)!r}).acquire()\nprint('locked', flush=True)\ntime.sleep(300)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(run)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               "-m", "neurokd", *train_argv(tmp_path, "ref", "--overwrite", "--device", "cpu")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV, cwd=ROOT)
        _count()
        ours = [ln for ln in proc.stderr.splitlines() if ln.startswith("neurokd: error:")]
        assert proc.returncode != 0 and len(ours) == 1, proc.stderr[-3000:]
        assert f"run folder {run} is in use by another neurokd process (pid {holder.pid})" in ours[0], ours
        assert snapshot(run) == before
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


# ------------------------------------------------------------------------------------------- symbolic links

LINKED = ["checkpoints", "checkpoints/epoch_0002.safetensors", "metrics.jsonl", "config.yaml", "model.safetensors",
          "summary.json", "model.json", LOCK_NAME]


@pytest.mark.parametrize("entry", LINKED)
def test_a_symbolic_link_inside_a_run_folder_is_never_written_or_pruned_through(tmp_path, reference, entry):
    """The entry is moved outside and linked back: --resume and a new run are refused with one line, leaving
    both sides as they were; --overwrite replaces the link by the run's own file, the outside untouched."""
    run, outside = _unfinished(reference, tmp_path / "runs" / "ref"), tmp_path / "outside"
    outside.mkdir()
    src = run / entry
    if not src.exists():
        src.write_text("")  # the lock file: a link in its place
    target = outside / src.name
    shutil.move(src, target)
    src.symlink_to(target, target_is_directory=target.is_dir())
    before_run, before_out = snapshot(run), snapshot(outside)
    needle = "symbolic link"
    refused(train_argv(tmp_path / "runs", "ref", "--resume"), needle, entry.split("/")[-1])
    refused(train_argv(tmp_path / "runs", "ref"), "symbolic link" if entry == LOCK_NAME else "already exists")
    assert snapshot(run) == before_run and snapshot(outside) == before_out
    code, lines = cli(train_argv(tmp_path / "runs", "ref", "--overwrite"))
    _count(2)
    _count(finished=code == 0)
    if entry == LOCK_NAME:  # refused like the others: neurokd cannot own the folder without its own lock file
        assert code == 2 and "symbolic link" in lines[-1], lines
    else:
        assert code == 0, lines
        assert outcome(run) == reference[1]
        assert not [p for p in run.rglob("*") if p.is_symlink()]
    assert snapshot(outside) == before_out


# ------------------------------------------------------------------------------------------ the environment

@pytest.fixture(scope="module")
def mounts(reference):
    """A read-only tmpfs holding a finished and an unfinished run, and a 4 MiB tmpfs to fill (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only or a full file system needs root")
    base = Path(tempfile.mkdtemp(prefix="neurokd-runfolder-mounts-"))
    ro, full = base / "ro", base / "full"
    mounted = []
    try:
        for where, options in ((ro, "size=1m"), (full, "size=4m")):
            mount_tmpfs(where, options)
            mounted.append(where)
        shutil.copytree(reference[0], ro / "runs" / "done")
        _unfinished(reference, ro / "runs" / "half")
        remount_read_only(ro)
        yield {"read-only": ro, "full": full}
    finally:
        for m in mounted:
            unmount(m)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("case", ["new", "new-below", "new-deep", "resume-done", "resume-half", "overwrite-done"])
def test_training_on_a_read_only_file_system(mounts, case):
    ro = mounts["read-only"]
    before = snapshot(ro)
    out, name, flags = {
        "new": (ro, "x", []), "new-below": (ro / "runs", "x", []), "new-deep": (ro / "a" / "b", "x", []),
        "resume-done": (ro / "runs", "done", ["--resume"]), "resume-half": (ro / "runs", "half", ["--resume"]),
        "overwrite-done": (ro / "runs", "done", ["--overwrite"]),
    }[case]
    line = refused(train_argv(out, name, *flags), "read-only file system", str(ro))
    _count()
    assert "Traceback" not in line and snapshot(ro) == before


def _stopped_at(line: str) -> str:
    """The file a full disk stopped: the name in ``cannot write|create PATH: ...``."""
    return Path(line.split("cannot ", 1)[1].split(" ", 1)[1].split(": ", 1)[0]).name


def test_training_on_a_full_disk_leaves_nothing_or_a_resumable_run(mounts, reference):
    """Fresh runs on a disk with 0, 3, 6, ... pages free: each finishes (exactly), or stops with one line naming
    the file and "no space left"; then either nothing is left, or (once a checkpoint landed) a run that resumes,
    when space is freed, to the exact uninterrupted result. The sweep must stop runs at several writes."""
    full, out = mounts["full"], mounts["full"] / "runs"
    seen: Counter[str] = Counter()
    for free_pages in range(0, 45, 3):
        fill(full, free_pages)
        code, lines = cli(train_argv(out, "ref", "--train.log_to", "csv"))  # the csv logger's writes too
        _count(finished=code == 0)
        if code == 0:
            seen["finished"] += 1
            assert outcome(out / "ref") == reference[1]
            continue
        assert code == 2 and len(lines) == 1, lines
        assert "no space left" in lines[0] and str(full) in lines[0], lines
        kept = "continue it with --resume" in lines[0]
        seen[f"{_stopped_at(lines[0])} ({'resumable' if kept else 'removed'})"] += 1
        if not kept:
            assert sorted(p.name for p in full.iterdir()) == ["filler"], lines  # nothing new left behind
            continue
        assert hidden_files(out / "ref") == [] and (out / "ref" / "checkpoints").is_dir()
        (full / "filler").unlink()
        code, lines = cli(train_argv(out, "ref", "--resume", "--train.log_to", "csv"))
        assert code == 0, lines
        assert outcome(out / "ref") == reference[1]
    print(f"\nfull disk, runs stopped at: {dict(seen)}")
    assert seen["finished"] and len(seen) >= 4, seen
    assert any(k.endswith("(resumable)") for k in seen) and any(k.endswith("(removed)") for k in seen), seen


def test_resuming_on_a_full_disk_leaves_the_run_as_it_was(mounts, reference):
    full = mounts["full"]
    fill(full, 1000)
    run = _unfinished(reference, full / "runs" / "half")
    _fill_rest(full)
    before = snapshot(full / "runs")
    refused(train_argv(full / "runs", "half", "--resume"), "no space left", str(run))
    _count()
    assert snapshot(full / "runs") == before


def _fill_rest(full: Path) -> None:
    st = os.statvfs(full)
    with open(full / "filler-rest", "wb") as fh:
        fh.write(b"\0" * (st.f_bavail * st.f_frsize))


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_an_out_dir_below_a_regular_file(tmp_path, depth):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("a regular file")
    before = snapshot(tmp_path)
    refused(train_argv(blocker.joinpath(*["sub"] * depth), "x"), f"{blocker} is a file, not a folder")
    _count()
    assert snapshot(tmp_path) == before


def _special(path: Path, kind: str) -> contextlib.AbstractContextManager:
    if kind == "file":
        path.write_text("mine")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
        except PermissionError:
            pytest.skip("making a device node needs root")
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        return sock
    return contextlib.nullcontext()


@pytest.mark.parametrize("flags", [[], ["--overwrite"], ["--resume"]])
@pytest.mark.parametrize("kind", ["file", "fifo", "device", "socket"])
def test_a_run_folder_path_that_is_a_file_fifo_device_or_socket(tmp_path, kind, flags):
    with _special(tmp_path / "x", kind):
        before = snapshot(tmp_path)
        refused(train_argv(tmp_path, "x", *flags), f"run folder {tmp_path / 'x'} exists and is not a folder")
        _count()
        assert snapshot(tmp_path) == before


def test_an_out_dir_that_is_a_device():
    refused(train_argv(Path("/dev/null"), "x"), "/dev/null is not a folder")
    _count()


@pytest.mark.parametrize("case", ["new", "new-below", "resume", "overwrite"])
def test_training_where_the_user_may_not_write(reference, case):
    """Permission denied: as root the command runs in a child that has become user nobody (root may write
    anywhere); the folders are root's, readable by all."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user (as any other user the folders would be writable)")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        os.chmod(d, 0o755)
        shutil.copytree(reference[0], d / "runs" / "done")
        _unfinished(reference, d / "runs" / "half")
        for p in [d / "runs", *(d / "runs").rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        out, name, flags = {"new": (d / "runs", "x", []), "new-below": (d / "runs" / "a", "x", []),
                            "resume": (d / "runs", "half", ["--resume"]),
                            "overwrite": (d / "runs", "done", ["--overwrite"])}[case]
        before = snapshot(d)
        code, err = as_nobody(train_argv(out, name, *flags))
        lines = [ln for ln in err.splitlines() if ln.strip()]
        _count()
        assert code == 2 and len(lines) == 1 and "Traceback" not in lines[0], lines
        assert "permission denied" in lines[0] and str(d / "runs") in lines[0], lines
        assert snapshot(d) == before


# ---------------------------------------------------------------------------------------- killed at each write

RESUMES, RESTARTS = "resumes", "restarts"
# kill point: (the folder it starts from, the killed command's flags, what a new run then does, what --resume
# does). RESUMES/RESTARTS end with the uninterrupted run's exact result; a string is the refusal's hint.
KILLS = {
    "after-lock": (None, [], RESTARTS, "without --resume"),
    "config-write": (None, [], RESTARTS, "without --resume"),
    "model-json-write": (None, [], RESTARTS, RESUMES),
    "metrics-append-1": (None, [], RESTARTS, RESUMES),
    "checkpoint-write-1": (None, [], RESTARTS, RESUMES),
    "metrics-append-2": (None, [], "--resume", RESUMES),
    "checkpoint-write-2": (None, [], "--resume", RESUMES),
    "checkpoint-prune-3": (None, [], "--resume", RESUMES),
    "model-write": (None, [], "--resume", RESUMES),
    "summary-write": (None, [], "--resume", RESUMES),
    "overwrite-deleting": ("finished", ["--overwrite"], "--resume", RESUMES),
    "resume-metrics-rewrite": ("unfinished", ["--resume"], "--resume", RESUMES),
    "resume-config-write": ("unfinished", ["--resume"], "--resume", RESUMES),
}


def _ends(argv: list, want: str, run: Path, expected: dict) -> None:
    _count(finished=want in (RESUMES, RESTARTS))
    if want in (RESUMES, RESTARTS):
        code, lines = cli(argv)
        assert code == 0, lines
    else:
        refused(argv, want)
        if want != "without --resume":
            return
        code, lines = cli([a for a in argv if a != "--resume"])  # the line's advice
        assert code == 0, lines
    assert outcome(run) == expected
    assert hidden_files(run) == []  # temporary files of the cut writes and the lock file are gone


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILLS))
def test_a_training_killed_at_each_write_point_resumes_or_restarts(tmp_path, reference, point):
    start, flags, new, resume = KILLS[point]
    run = tmp_path / "ref"
    if start == "finished":
        shutil.copytree(reference[0], run)
    elif start == "unfinished":
        _unfinished(reference, run)
    proc = _popen(train_argv(tmp_path, "ref", *flags), point=point)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == -signal.SIGKILL, f"{point}: never reached (exit {proc.returncode}): {err}"
    shutil.copytree(run, tmp_path / "copy", symlinks=True)
    _ends(train_argv(tmp_path, "ref"), new, run, reference[1])
    _ends(train_argv(tmp_path, "copy", "--resume"), resume, tmp_path / "copy", reference[1])
