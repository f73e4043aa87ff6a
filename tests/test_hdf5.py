"""HDF5 files that reach outside themselves or declare too much are refused before anything is read."""

import h5py
import numpy as np
import pytest

from neurokd.errors import ResourceError, UserError
from neurokd.hdf5 import open_hdf5


def _file(path, edit=None):
    with h5py.File(path, "w") as f:
        f["g/a"] = np.arange(4.0)
        if edit:
            edit(f, path.parent)
    return path


def _external_storage(f, d):
    (d / "secret").write_bytes(np.arange(4.0).tobytes())
    f.create_dataset("g/e", shape=(4,), dtype="f8", external=[(str(d / "secret"), 0, 32)])


def _virtual(f, d):
    with h5py.File(d / "other.h5", "w") as o:
        o["x"] = np.arange(4.0)
    layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
    layout[...] = h5py.VirtualSource(str(d / "other.h5"), "x", shape=(4,))
    f.create_virtual_dataset("g/v", layout)


EDITS = {
    "external link": (lambda f, d: f.__setitem__("g/l", h5py.ExternalLink("other.h5", "/x")), "external link"),
    "soft link": (lambda f, d: f.__setitem__("g/l", h5py.SoftLink("/g/a")), "SoftLink"),
    "hard link twice": (lambda f, d: f.__setitem__("g/b", f["g/a"]), "linked from more than one place"),
    "external storage": (_external_storage, "stores its data in another file"),
    "virtual dataset": (_virtual, "virtual dataset"),
    "declared 64 GiB": (lambda f, d: f.create_dataset("g/big", shape=(1 << 34,), dtype="f4", chunks=(1 << 16,),
                                                      compression="gzip"), "memory limit"),
}


def test_a_plain_file_opens(tmp_path):
    with open_hdf5(_file(tmp_path / "ok.h5"), "file") as f:
        assert f["g/a"][()].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("name", sorted(EDITS))
def test_escapes_and_declared_sizes_are_refused(tmp_path, name):
    edit, needle = EDITS[name]
    path = _file(tmp_path / "bad.h5", edit)
    with pytest.raises(UserError, match=needle) as e:
        with open_hdf5(path, "file"):
            pass
    assert str(path) in str(e.value)
    assert isinstance(e.value, ResourceError) == (name == "declared 64 GiB")


def test_groups_nested_too_deep(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROKD_MAX_DEPTH", "3")
    path = tmp_path / "deep.h5"
    with h5py.File(path, "w") as f:
        f.create_group("a/b/c/d/e/f/g")
    with pytest.raises(UserError, match="groups nest deeper than 6 levels"), open_hdf5(path, "file"):
        pass
