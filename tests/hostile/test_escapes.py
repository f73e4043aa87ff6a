"""HDF5 files that read outside themselves: a dataset of a valid ``.nir`` / ``.net`` file replaced by an external
link, a soft link, a virtual dataset or external raw storage pointing at another file (beside it, in a parent
folder, or at an absolute path) that holds exactly the data the reader expects, so following it would
"work". Every command that reads the file must refuse it in one line, before reading anything."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.harness import feed
from tests.hostile.test_files import _tiny_onnx

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ESCAPES = ["external-link", "soft-link", "virtual-dataset", "external-storage", "hard-link-twice"]
WHERE = ["beside", "parent", "absolute"]


def _datasets(path: Path) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.shape != () else None)
    return sorted(names)


def _escape(src: Path, dst: Path, d: Path, data) -> str:
    """Copy ``src`` to ``dst`` with one dataset replaced by an escape; returns the escape's kind."""
    shutil.copy(src, dst)
    how = data.draw(st.sampled_from(ESCAPES))
    name = data.draw(st.sampled_from(_datasets(src)))
    where = data.draw(st.sampled_from(WHERE))
    # the other file, and how a link names it: relative to the file's folder, or absolute
    other, named = {"beside": (d / "secret.h5", "secret.h5"),
                    "parent": (d.parent / f"{d.name}-secret.h5", f"../{d.name}-secret.h5"),
                    "absolute": (d / "abs" / "secret.h5", str(d / "abs" / "secret.h5"))}[where]
    other.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(dst, "r+") as f:
        arr = f[name][()]
        del f[name]
        if how in ("external-link", "virtual-dataset"):
            with h5py.File(other, "w") as g:
                g["x"] = arr
        if how == "external-link":
            f[name] = h5py.ExternalLink(named, "/x")
        elif how == "virtual-dataset":
            layout = h5py.VirtualLayout(shape=arr.shape, dtype=arr.dtype)
            layout[...] = h5py.VirtualSource(str(other), "x", shape=arr.shape)
            f.create_virtual_dataset(name, layout)
        elif how == "external-storage":
            raw = np.ascontiguousarray(arr)
            other.write_bytes(raw.tobytes())
            f.create_dataset(name, shape=raw.shape, dtype=raw.dtype, external=[(str(other), 0, raw.nbytes)])
        else:
            keep = f"{name}_kept"
            f[keep] = arr
            f[name] = h5py.SoftLink("/" + keep) if how == "soft-link" else f[keep]
    return how


def _cleanup(d: Path) -> None:
    for p in d.parent.glob(f"{d.name}-secret.h5"):
        p.unlink()


@FUZZ
@given(data=st.data())
def test_nir_files_that_escape(good, data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "model.nir"
        how = _escape(good["nir"], f, d, data)
        try:
            _code, err = feed("escapes", ["inspect", f], [d])
        finally:
            _cleanup(d)
        assert "refused" in err or "link" in err, (how, err)


@FUZZ
@given(data=st.data(), command=st.sampled_from(["inspect", "simulate", "stream"]))
def test_netx_files_that_escape(good, data, command):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "model.net"
        how = _escape(good["net"], f, d, data)
        argv = {"inspect": ["inspect", f],
                "simulate": ["simulate", "lava", f, "--backend", "numpy", "--limit", "4", "--no-progress"],
                "stream": ["stream", f, "--events", d / "none.npy", "--window-ms", "1"]}[command]
        try:
            _code, err = feed("escapes", argv, [d])
        finally:
            _cleanup(d)
        assert "refused" in err or "link" in err, (how, command, err)


# ------------------------------------------------------------------------------------------------- ONNX

def _onnx_with_external(d: Path, data) -> Path:
    """The tiny ONNX teacher with its weight stored outside the model's folder, in a file that holds exactly
    the weight's bytes: reached by '..', by an absolute path, or through a symbolic link inside the folder."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(_tiny_onnx())
    init = next(t for t in model.graph.initializer if t.name == "w")
    raw = numpy_helper.to_array(init).tobytes()
    folder = d / "model"
    folder.mkdir()
    secret = d / "secret.bin"
    secret.write_bytes(raw)
    how = data.draw(st.sampled_from(["dotdot", "absolute", "symlink", "nested-dotdot"]))
    location = {"dotdot": "../secret.bin", "absolute": str(secret), "symlink": "inside.bin",
                "nested-dotdot": "sub/../../secret.bin"}[how]
    if how == "symlink":
        (folder / "inside.bin").symlink_to(secret)
    (folder / "sub").mkdir()
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        entry = init.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "teacher.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@FUZZ
@given(data=st.data())
def test_onnx_external_data_outside_the_model_folder(good, data):
    import pytest

    pytest.importorskip("onnx")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = _onnx_with_external(d, data)
        _code, err = feed("escapes", ["distill", "--teacher", f, "--out-dir", d / "runs", "--name", "kd", "--epochs", "1",
                                      "--model.width", "4", "--no-progress"], [d / "runs", d / "model"])
        assert "outside the model's folder" in err, err
