"""Sizes that cannot fit: what a small file declares (a gzip-compressed HDF5 dataset of tens of GiB, a model
spec of width 10^6, T = 10^10 or a 1x10^5x10^5 input, an image header of 30000x30000, a torch archive with
compressed entries) and what a user asks for (``--T``, ``--verify``, batch sizes, steps per window, an event
recording whose last event makes 10^9 windows). Each must be refused up front, in one line with the estimate,
before anything is allocated: a case that allocates would end in MemoryError or a swap storm instead."""

from __future__ import annotations

import io
import json
import math
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import h5py
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from tests.hostile.harness import event_file, feed
from tests.hostile.test_files import _model_commands

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GiB = 1 << 30


def _huge_shape(data, min_bytes: int, itemsize: int) -> tuple[int, ...]:
    """A shape of 1 to 3 dimensions whose bytes exceed ``min_bytes`` (up to 2^50 bytes)."""
    total = data.draw(st.integers(min_bytes.bit_length(), 50))
    ndim = data.draw(st.integers(1, 3))
    elements = (1 << total) // itemsize + 1
    dims = [max(1, round(elements ** (1 / ndim)))] * ndim
    dims[0] = -(-elements // math.prod(dims[1:]))
    return tuple(dims)


# ------------------------------------------------------------------------------------------- HDF5 files

def _inflate(src: Path, dst: Path, data) -> None:
    """``src`` with one dataset replaced by a gzip-compressed one that declares more than 16 GiB."""
    with h5py.File(src, "r") as f:
        names: list[str] = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and o.dtype.kind in "iuf" else None)
    name = data.draw(st.sampled_from(sorted(names)))
    dst.write_bytes(src.read_bytes())
    with h5py.File(dst, "r+") as f:
        dtype = f[name].dtype
        del f[name]
        shape = _huge_shape(data, 16 * GiB, dtype.itemsize)
        chunks = tuple(min(d, 64) for d in shape)
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, compression="gzip", fillvalue=1)
    assert dst.stat().st_size < 1 << 20  # a small file


@FUZZ
@given(data=st.data(), which=st.sampled_from(["nir-inspect", "net-inspect", "net-simulate", "net-stream"]))
def test_hdf5_datasets_that_declare_too_much(good, data, which):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / ("model.nir" if which.startswith("nir") else "model.net")
        _inflate(good["nir" if which.startswith("nir") else "net"], f, data)
        argv = {"nir-inspect": ["inspect", f], "net-inspect": ["inspect", f],
                "net-simulate": ["simulate", "lava", f, "--limit", "2", "--no-progress"],
                "net-stream": ["stream", f, "--events", d / "none.npy", "--window-ms", "1"]}[which]
        _code, err = feed("declared-sizes", argv, [d])
        assert "memory limit" in err, err


# ------------------------------------------------------------------------------------ model file specs

SPEC_FIELDS = {
    "width": st.integers(10**5, 10**9),
    "T": st.integers(10**8, 10**13),
    "num_classes": st.integers(10**9, 10**12),
    "input_shape": st.tuples(st.integers(1, 3), st.integers(10**5, 10**7), st.integers(10**5, 10**7)).map(list),
}


@FUZZ
@given(field=st.sampled_from(sorted(SPEC_FIELDS)), which=st.sampled_from(["model", "ckpt"]),
       command=st.sampled_from(["eval", "export-nir", "export-lava", "report", "stream", "robustness",
                                "distill-teacher"]), data=st.data())
def test_model_specs_that_cannot_fit(good, field, which, command, data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / ("model.safetensors" if which == "model" else "epoch_0001.safetensors")
        with safe_open(str(good[which]), framework="pt") as src:
            tensors, meta = {k: src.get_tensor(k) for k in src.keys()}, dict(src.metadata())
        spec = json.loads(meta["spec"])
        spec[field] = data.draw(SPEC_FIELDS[field])
        meta["spec"] = json.dumps(spec)
        save_file(tensors, str(f), metadata=meta)
        _code, err = feed("declared-sizes", _model_commands(f, good, d)[command], [d])
        assert "memory limit" in err or "cannot size" in err, err


# ---------------------------------------------------------------------------------------- torch archives

@FUZZ
@given(how=st.sampled_from(["deflated", "legacy"]), width=st.integers(1, 64))
def test_torch_files_whose_sizes_are_not_what_they_hold(good, how, width):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "teacher.pt"
        state = {"w": torch.zeros(width, width)}
        if how == "legacy":
            torch.save(state, f, _use_new_zipfile_serialization=False)
        else:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            src = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as dst:
                for info in src.infolist():
                    dst.writestr(info.filename, src.read(info))
        _code, err = feed("declared-sizes", ["distill", "--teacher", f, "--out-dir", d / "runs", "--name", "kd",
                                             "--epochs", "1", "--model.width", "4", "--no-progress"], [d])
        assert "torch.save" in err, err


# ------------------------------------------------------------------------------------------------ images

def _png(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (its data is a few bytes: the decoder would inflate)."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@FUZZ
@given(pixels=st.integers(89_478_486, 2**40), aspect=st.floats(0.05, 20), command=st.sampled_from(["eval", "train"]))
def test_images_whose_header_declares_too_many_pixels(good, pixels, aspect, command):
    width = max(1, min(2**31 - 1, round(math.sqrt(pixels * aspect))))
    height = max(1, min(2**31 - 1, -(-pixels // width)))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        root = d / "images"
        small = _png(8, 8)
        for split in ("train", "val", "test"):
            for cls in ("a", "b"):
                (root / split / cls).mkdir(parents=True)
                for i in range(2):
                    (root / split / cls / f"{i}.png").write_bytes(small)
        (root / "train" / "a" / "0.png").write_bytes(_png(width, height))  # the first image read
        data = ["--data.name", "imagefolder", "--data.root", root, "--data.image_size", "8"]
        argv = (["eval", good["ann"], *data] if command == "eval" else
                ["train", *data, "--out-dir", d / "runs", "--name", "x", "--epochs", "1", "--no-progress"])
        _code, err = feed("images", argv, [d / "runs"])
        assert "pixels" in err, err


# ------------------------------------------------------------------------------- what the user asks for

@FUZZ
@given(command=st.sampled_from(["eval", "eval-nir", "report", "export-nir", "export-lava", "robustness", "stream-steps",
                                "verify-nir", "verify-lava", "eval-batch", "simulate-batch", "stream-threads",
                                "convert"]),
       exponent=st.floats(7, 15), data=st.data())
def test_requests_that_cannot_fit(good, command, exponent, data):
    n = int(10**exponent)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        snn, ev = good["snn"], event_file(d / "ev.npy", 50)
        argv = {
            "eval": ["eval", snn, "--T", n],
            "eval-nir": ["eval", good["nir"], "--T", n],
            "report": ["report", snn, "--T", n, "--out", d / "rep", "--no-progress"],
            "export-nir": ["export", "nir", snn, "--T", n, "-o", d / "m.nir", "--verify", "0"],
            "export-lava": ["export", "lava", snn, "--T", n, "-o", d / "m.net", "--verify", "0", "--no-progress"],
            "robustness": ["robustness", snn, "--T", n, "--out", d / "rob", "--no-progress"],
            "stream-steps": ["stream", snn, "--events", ev, "--window-ms", n, "--steps-per-window", n],
            "verify-nir": ["export", "nir", snn, "-o", d / "m.nir", "--verify", n],
            "verify-lava": ["export", "lava", snn, "-o", d / "m.net", "--verify", n, "--no-progress"],
            "eval-batch": ["eval", snn, "--data.eval_batch_size", n * 1000],
            "simulate-batch": ["simulate", "lava", good["net"], "--batch-size", n * 1000, "--no-progress"],
            "stream-threads": ["stream", snn, "--events", ev, "--window-ms", "1", "--threads", n],
            "convert": ["convert", good["ann"], "--T", n, "--out-dir", d / "runs", "--name", "c", "--no-progress"],
        }[command]
        _code, err = feed("resources", argv, [d])
        expected = {"stream-threads": ("CPUs",), "eval-batch": ("memory limit", "must be <= 1048576")}
        assert any(e in err for e in expected.get(command, ("memory limit",))), err


@FUZZ
@given(late=st.integers(10**11, 10**16), window_ms=st.floats(0.01, 100), realtime=st.booleans())
def test_event_recordings_that_would_stream_for_days(good, late, window_ms, realtime):
    if late / (window_ms * 1000) <= 10**7:
        return
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ev = event_file(d / "ev.npy", 50, last_t=late)
        argv = ["stream", good["snn"], "--events", ev, "--window-ms", window_ms, "--json", d / "out.json",
                *(["--realtime"] if realtime else [])]
        _code, err = feed("resources", argv, [d], timeout=120)
        assert "windows" in err and "over the limit" in err, err
