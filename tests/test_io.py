"""Artefacts follow the user's umask (0644 under 022, 0600 under 077), whatever library writes them."""

from __future__ import annotations

import os
import stat

import h5py
import pytest

from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.io import atomic_open, atomic_path, write_json, write_text, write_yaml
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
