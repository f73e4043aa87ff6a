"""Run folders: an environment fault on a path that no write named is still one line, when it is inside the run."""

from __future__ import annotations

import errno
import os

from neurokd.runs.folder import _fault_inside


def test_faults_inside_the_run_folder_only_become_one_line(tmp_path):
    inside = OSError(errno.EACCES, "Permission denied", str(tmp_path / "run" / "checkpoints"))
    assert "checkpoints: permission denied" in str(_fault_inside(inside, tmp_path / "run"))
    outside = OSError(errno.EACCES, "Permission denied", str(tmp_path / "runner"))
    assert _fault_inside(outside, tmp_path / "run") is None
    assert _fault_inside(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), tmp_path) is None  # no path: not ours
