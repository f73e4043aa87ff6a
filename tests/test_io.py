"""Atomic writes: all or nothing under faults, temporary files of killed writers removed, modes that follow the
user's umask (0644 under 022, 0600 under 077) whatever library writes; reads of regular files only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import h5py
import pytest

from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.errors import OutputError, UserError
from neurokd.io import (
    atomic_open,
    atomic_path,
    open_regular,
    read_text,
    remove_stale_temps,
    write_files,
    write_json,
    write_text,
    write_yaml,
)
from neurokd.train import run_training


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writers_follow_the_umask(tmp_path, umask):
    write_text(tmp_path / "a.txt", "x\n")
    write_json(tmp_path / "a.json", {"a": 1})
    write_yaml(tmp_path / "a.yaml", {"a": 1})
    with atomic_open(tmp_path / "b.bin", "wb") as fh:
        fh.write(b"\0")
    with atomic_path(tmp_path / "c.h5") as tmp, h5py.File(tmp, "w") as f:  # a library writing to the temp name
        f["x"] = [1, 2]
    expected = 0o666 & ~umask
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == dict.fromkeys(
        ["a.txt", "a.json", "a.yaml", "b.bin", "c.h5"], expected)


def test_a_run_folder_is_readable_by_others_under_umask_022(tmp_path):
    old = os.umask(0o022)
    try:
        cfg = build_config(RunConfig, overrides={"out_dir": str(tmp_path), "name": "r", "optim.epochs": 1,
                                                 "model.width": 4, "model.kind": "ann", "train.progress": False,
                                                 "train.threads": 1})
        run_training(cfg)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file()]
    assert {"model.safetensors", "summary.json", "config.yaml"} <= {p.name for p in files}
    assert {str(p.relative_to(tmp_path)): oct(_mode(p)) for p in files if _mode(p) != 0o644} == {}


def _dead_pid() -> int:
    """A process id no process can have (above the kernel's pid_max): a writer that is surely gone."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def test_a_group_is_written_all_or_nothing(tmp_path):
    out = tmp_path / "new" / "deeper"
    (out / "b.json").mkdir(parents=True)  # the second target is a folder: nothing may be written
    with pytest.raises(OutputError, match=r"b.json: it is a folder; give a file name"):
        write_files({out / "a.md": "a", out / "b.json": "{}"})
    assert sorted(p.name for p in out.iterdir()) == ["b.json"]
    write_files({tmp_path / "x" / "a.md": "a", tmp_path / "x" / "b.png": b"\x89PNG"})
    assert (tmp_path / "x" / "a.md").read_text() == "a" and (tmp_path / "x" / "b.png").read_bytes() == b"\x89PNG"


def test_a_failed_write_removes_its_temp_and_the_folders_it_made(tmp_path):
    target = tmp_path / "made" / "for" / "it.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer broke")
    assert not (tmp_path / "made").exists()


def test_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match=r"cannot write .*plain/sub/a.txt: .*plain is a file, not a folder"):
        write_text(tmp_path / "plain" / "sub" / "a.txt", "a")


def test_environment_faults_from_the_writer_become_one_line(tmp_path):
    with pytest.raises(OutputError, match=r"cannot write .*a.bin: no space left on the device; free some space"):
        with atomic_path(tmp_path / "a.bin"):
            raise OSError(28, "No space left on device")
    with pytest.raises(OutputError, match="read-only file system"):  # errno inside a C library's message
        with atomic_path(tmp_path / "b.h5"):
            raise RuntimeError("file write failed: errno = 30, error message = 'Read-only file system'")
    assert not list(tmp_path.iterdir())


def test_temps_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dead = tmp_path / f".r.md.{_dead_pid()}-abc.tmp"
    live = tmp_path / f".r.md.{os.getppid()}-def.tmp"
    other = tmp_path / f".s.md.{_dead_pid()}-ghi.tmp"  # another target's: left for its own writer
    for p in (dead, live, other):
        p.write_text("half")
    remove_stale_temps(tmp_path / "r.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
    write_text(tmp_path / "s.md", "whole")
    assert not other.exists() and (tmp_path / "s.md").read_text() == "whole"


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_only_regular_files_are_opened(tmp_path, kind):
    path = tmp_path / "f"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer came
    elif kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero")
    with pytest.raises(UserError, match=r"^thing .*: is a (named pipe \(FIFO\)|folder|character device), not a "):
        open_regular(path, "thing")


def test_text_files_over_the_limit(tmp_path, monkeypatch):
    f = tmp_path / "big.yaml"
    f.write_text("a: 1\n" * 1000)
    monkeypatch.setenv("NEUROKD_MAX_TEXT_MIB", "0.001")  # 1 KiB
    with pytest.raises(UserError, match=r"big.yaml: 4.88 KiB is over the 1.02 KiB limit .*NEUROKD_MAX_TEXT_MIB"):
        read_text(f, "config file")
