"""Hostile files through every command that reads them: model files and checkpoints (truncated, wrong dtypes
and shapes, extra/missing tensors, broken metadata, garbage), NIR and netx HDF5 files, ONNX teachers, event
files and chip profiles."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from tests.hostile.harness import feed

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _tmp() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory()


# --------------------------------------------------------------------------------- model files / checkpoints

def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def _model_commands(f: Path, good: dict[str, Path], d: Path) -> dict[str, list]:
    """Every command that takes a model file or checkpoint, on ``f`` (outputs inside ``d``)."""
    return {
        "eval": ["eval", f],
        "export-nir": ["export", "nir", f, "-o", d / "out.nir", "--verify", "0"],
        "export-lava": ["export", "lava", f, "-o", d / "out.net", "--verify", "0", "--calibration", "8",
                        "--no-progress"],
        "report": ["report", f, "--chip", "loihi", "--out", d / "report", "--max-samples", "4", "--no-progress"],
        "stream": ["stream", f, "--events", d / "none.npy", "--window-ms", "1"],
        "robustness": ["robustness", f, "--out", d / "rob", "--no-progress"],
        "distill-teacher": ["distill", "--teacher", f, "--out-dir", d / "runs", "--name", "kd", "--epochs", "1",
                            "--model.width", "4", "--model.T", "2", "--no-progress"],
    }


MUTATIONS = ["truncate", "drop", "extra", "reshape", "int-dtype", "bool-dtype", "nan", "spec-garbage",
             "spec-invalid", "no-format", "garbage", "empty", "header-flip"]


def _mutate(src: Path, dst: Path, how: str, data, weights_only: bool = True) -> bool:
    """Write a broken copy of ``src``; returns whether the result may still be valid. ``weights_only``: break
    model weights (what eval/export read), else any tensor (a resume reads them all)."""
    raw = src.read_bytes()
    if how == "truncate":
        dst.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
        return False
    if how == "garbage":
        dst.write_bytes(data.draw(st.binary(min_size=1, max_size=300)))
        return False
    if how == "empty":
        dst.write_bytes(b"")
        return False
    if how == "header-flip":
        n = int.from_bytes(raw[:8], "little")
        pos = data.draw(st.integers(0, 8 + n - 1))
        dst.write_bytes(raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:])
        return True  # a flip inside a metadata string can leave a valid file
    tensors, meta = _read(src)
    keys = sorted(k for k in tensors if tensors[k].is_floating_point()
                  and (not weights_only or k.startswith("model.") or meta.get("format") == "neurokd-model/1"))
    key = data.draw(st.sampled_from(keys))
    if how == "drop":
        del tensors[key]
    elif how == "extra":
        tensors[key + "_extra"] = torch.zeros(3)
    elif how == "reshape":
        tensors[key] = torch.zeros(tensors[key].numel() + 1)
    elif how == "int-dtype":
        tensors[key] = tensors[key].to(torch.int32)
    elif how == "bool-dtype":
        tensors[key] = tensors[key] > 0
    elif how == "nan":
        t = tensors[key].clone()
        t.view(-1)[0] = float("nan") if data.draw(st.booleans()) else float("inf")
        tensors[key] = t
    elif how == "spec-garbage":
        meta["spec"] = data.draw(st.sampled_from(["{", "[]", "null", "42", '"x"', ""]))
    elif how == "spec-invalid":
        spec = json.loads(meta["spec"])
        field, value = data.draw(st.sampled_from([
            ("arch", "nope"), ("T", 0), ("width", -1), ("kind", "cnn"), ("num_classes", 1),
            ("input_shape", [1, 8]), ("input_shape", "x"), ("neuron", {"beta": 7}), ("unknown_key", 1),
            ("width", 3),
        ]))
        spec[field] = value
        meta["spec"] = json.dumps(spec)
    elif how == "no-format":
        meta.pop("format", None)
    save_file(tensors, str(dst), metadata=meta)
    return False


@FUZZ
@given(how=st.sampled_from(MUTATIONS), which=st.sampled_from(["model", "ckpt"]),
       command=st.sampled_from(["eval", "export-nir", "export-lava", "report", "stream", "robustness",
                                "distill-teacher"]), data=st.data())
def test_broken_model_files_and_checkpoints(good, how, which, command, data):
    with _tmp() as d:
        d = Path(d)
        f = d / ("model.safetensors" if which == "model" else "epoch_0001.safetensors")
        maybe_valid = _mutate(good[which], f, how, data)
        feed("checkpoint", _model_commands(f, good, d)[command], [d], may_succeed=maybe_valid)


@FUZZ
@given(how=st.sampled_from(MUTATIONS), data=st.data())
def test_resume_from_broken_checkpoints(good, how, data):
    """Every checkpoint of a run folder broken: --resume must refuse, not train from scratch or crash."""
    with _tmp() as d:
        d = Path(d)
        run = d / "runs" / "snn"
        shutil.copytree(good["snn"], run)
        for _ in range(2):
            for p in (run / "checkpoints").iterdir():
                _mutate(good["ckpt"], p, how if how != "header-flip" else "truncate", data, weights_only=False)
        before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
        feed("checkpoint", ["train", "--out-dir", d / "runs", "--name", "snn", "--resume", "--no-progress"], [d])
        assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # nothing touched


# ------------------------------------------------------------------------------------------- HDF5 files

def _h5_mutate(src: Path, dst: Path, data) -> bool:
    how = data.draw(st.sampled_from(["truncate", "garbage", "delete", "retype", "reshape", "nan", "attr"]))
    raw = src.read_bytes()
    if how == "truncate":
        dst.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
        return False
    if how == "garbage":
        dst.write_bytes(b"\x89HDF\r\n\x1a\n" + data.draw(st.binary(max_size=200)))
        return False
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        names: list[str] = []
        f.visit(names.append)
        name = data.draw(st.sampled_from(sorted(names)))
        obj = f[name]
        if how == "delete":
            del f[name]
        elif how == "attr":
            if not obj.attrs:
                return True
            attr = data.draw(st.sampled_from(sorted(obj.attrs)))
            obj.attrs[attr] = data.draw(st.sampled_from(["garbage", -1, 1e30]))
        elif isinstance(obj, h5py.Dataset):
            del f[name]
            if how == "retype":
                f[name] = np.bytes_(b"not numbers")
            elif how == "reshape":
                f[name] = np.zeros((3, 5, 7), dtype=np.float32)
            else:
                arr = np.array(obj[()] if obj.shape != () else 0, dtype=np.float64)
                f[name] = np.full_like(arr, np.nan, dtype=np.float64)
        else:
            return True
    return True  # some edits (an unused attribute, a spare field) leave a usable file


@FUZZ
@given(data=st.data())
def test_broken_nir_files(good, data):
    with _tmp() as d:
        f = Path(d) / "model.nir"
        maybe_valid = _h5_mutate(good["nir"], f, data)
        feed("nir", ["inspect", f], [Path(d)], may_succeed=maybe_valid)


@FUZZ
@given(data=st.data(), command=st.sampled_from(["inspect", "simulate"]))
def test_broken_netx_files(good, data, command):
    with _tmp() as d:
        f = Path(d) / "model.net"
        maybe_valid = _h5_mutate(good["net"], f, data)
        argv = (["inspect", f] if command == "inspect" else
                ["simulate", "lava", f, "--backend", "numpy", "--limit", "4", "--no-progress"])
        feed("netx", argv, [Path(d)], may_succeed=maybe_valid)


# ------------------------------------------------------------------------------------------------- ONNX

def _tiny_onnx() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(10, 64)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(10, np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)],
        "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


@FUZZ
@given(how=st.sampled_from(["truncate", "garbage", "flip"]), data=st.data())
def test_broken_onnx_teachers(good, how, data):
    pytest.importorskip("onnx")
    raw = _tiny_onnx()
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 2))]
    elif how == "garbage":
        raw = data.draw(st.binary(max_size=300))
    else:
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw = raw[:pos] + bytes([raw[pos] ^ data.draw(st.integers(1, 255))]) + raw[pos + 1:]
    with _tmp() as d:
        d = Path(d)
        f = d / "teacher.onnx"
        f.write_bytes(raw)
        feed("onnx", ["distill", "--teacher", f, "--out-dir", d / "runs", "--name", "kd", "--epochs", "1",
                      "--model.width", "4", "--model.T", "2", "--no-progress"], [d], may_succeed=how == "flip")


# ------------------------------------------------------------------------------------------- event files

EVENT_DT = np.dtype([("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])


def _event_file(d: Path, data) -> tuple[Path, bool]:
    kind = data.draw(st.sampled_from(["npy-garbage", "npy-truncated", "npy-object", "npy-wrong-fields",
                                      "npy-2d", "bin-garbage", "bin-truncated", "aedat-garbage", "npz"]))
    good = np.zeros(20, EVENT_DT)
    good["t"] = np.arange(20) * 100
    if kind.startswith("npy"):
        f = d / "ev.npy"
        if kind == "npy-garbage":
            f.write_bytes(data.draw(st.binary(max_size=200)))
        elif kind == "npy-truncated":
            np.save(f, good)
            raw = f.read_bytes()
            f.write_bytes(raw[: data.draw(st.integers(0, len(raw) - 1))])
        elif kind == "npy-object":
            np.save(f, np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
        elif kind == "npy-wrong-fields":
            np.save(f, np.zeros(5, np.dtype([("a", "<f4"), ("b", "<f4")])))
        else:
            np.save(f, np.zeros((4, 4), np.float32))
        return f, False
    if kind.startswith("bin"):
        f = d / "ev.bin"
        n = data.draw(st.integers(0, 60))
        f.write_bytes(data.draw(st.binary(min_size=n, max_size=n)) if kind == "bin-garbage" else b"\x01" * 7)
        return f, kind == "bin-garbage" and n % 5 == 0  # whole 5-byte records are valid N-MNIST events
    if kind == "aedat-garbage":
        f = d / "ev.aedat4"
        f.write_bytes(data.draw(st.binary(max_size=200)))
        return f, False
    f = d / "ev.npz"
    np.savez(f, events=good)
    return f, False


@FUZZ
@given(data=st.data())
def test_broken_event_files(good, data):
    with _tmp() as d:
        d = Path(d)
        f, maybe_valid = _event_file(d, data)
        feed("events", ["stream", good["snn"], "--events", f, "--window-ms", "1", "--json", d / "out.json"],
             [d], may_succeed=maybe_valid)


# ------------------------------------------------------------------------------------------ chip profiles

def _chip_doc(data):
    from neurokd.hardware.chips import builtin_chips

    base = yaml.safe_load(builtin_chips()["loihi"].read_text())
    how = data.draw(st.sampled_from(["drop", "retype", "random", "unknown", "source"]))
    if how == "random":
        return data.draw(st.recursive(st.none() | st.integers() | st.floats() | st.text(max_size=8),
                                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                          max_size=3)))
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append(path + [k])
                walk(v, path + [k])

    walk(base, [])
    path = data.draw(st.sampled_from(paths))
    parent = base
    for k in path[:-1]:
        parent = parent[k]
    if how == "drop":
        del parent[path[-1]]
    elif how == "retype":
        parent[path[-1]] = data.draw(st.sampled_from([None, "x", -1, [1, 2], {"a": 1}, 0]))
    elif how == "unknown":
        parent["surprise"] = 1
    else:
        parent[path[-1]] = "not-a-listed-source" if path[-1] == "source" else parent[path[-1]]
    return base


@FUZZ
@given(data=st.data())
def test_broken_chip_profiles(good, data):
    with _tmp() as d:
        d = Path(d)
        f = d / "chip.yaml"
        f.write_text(yaml.safe_dump(_chip_doc(data)))
        feed("chip", ["report", good["snn"], "--chip", f, "--out", d / "report", "--max-samples", "4",
                      "--no-progress"], [d], may_succeed=True)


@pytest.mark.parametrize("raw", [b"", b"\x00\xff\xfe", b"- a\n- b\n", b"key: [unclosed", b"{}"])
def test_unreadable_chip_profiles(good, raw, tmp_path):
    f = tmp_path / "chip.yaml"
    f.write_bytes(raw)
    feed("chip", ["report", good["snn"], "--chip", f, "--out", tmp_path / "report", "--no-progress"], [tmp_path])
