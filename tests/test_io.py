"""Atomic writes under faults, all or nothing; temporary files of killed writers; reads of regular files only."""

import os
from pathlib import Path

import pytest

from neurokd.errors import OutputError, UserError
from neurokd.io import atomic_path, open_regular, read_text, remove_stale_temps, write_files, write_text


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
