"""Environment faults while writing a run folder, as one line naming the path and the cause."""

from __future__ import annotations

import errno
import os

import pytest
from safetensors import SafetensorError

from neurokd.errors import UserError
from neurokd.runs.faults import RunFolderError, fault_error, fault_in, writing


def test_os_errors_and_safetensors_errors_become_one_line(tmp_path):
    full = fault_error(tmp_path / "m.safetensors",
                       SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"))
    assert str(full) == (f"cannot write {tmp_path / 'm.safetensors'}: no space left on device; free some space or "
                         "choose another --out-dir")
    ro = fault_error(tmp_path / "x", OSError(errno.EROFS, "Read-only file system"), "create")
    assert str(ro) == f"cannot create {tmp_path / 'x'}: read-only file system; choose another --out-dir"
    assert fault_error(tmp_path, ValueError("a bug")) is None  # no OS error behind it: keeps its traceback
    assert fault_error(tmp_path, UserError("already one line")) is None


def test_writing_converts_faults_only(tmp_path):
    with pytest.raises(RunFolderError, match="permission denied"), writing(tmp_path / "f"):
        raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(KeyError), writing(tmp_path / "f"):
        raise KeyError("a bug")


def test_fault_in_names_only_paths_inside_the_folder(tmp_path):
    inside = OSError(errno.EACCES, "Permission denied", str(tmp_path / "run" / "checkpoints"))
    assert "checkpoints: permission denied" in str(fault_in(inside, tmp_path / "run"))
    outside = OSError(errno.EACCES, "Permission denied", str(tmp_path / "runner"))
    assert fault_in(outside, tmp_path / "run") is None
    assert fault_in(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), tmp_path) is None  # no path: not ours
