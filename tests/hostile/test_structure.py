"""Structures that recurse or expand: NIR subgraphs nested hundreds deep, JSON in a model file's metadata nested
beyond Python's recursion limit, YAML alias bombs, deep and recursive YAML in configs and chip profiles, deep
label files; and names of 100 KB that end up in an error message. Each must be one bounded error line, never
a RecursionError, a MemoryError or a 100 KB "line" (the harness checks the line's length)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from tests.hostile.harness import event_file, feed
from tests.hostile.test_files import _model_commands

FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
DEPTHS = st.integers(33, 600)


def _nested_nir(path: Path, depth: int) -> None:
    """A NIR file whose graph holds a subgraph holding a subgraph ... ``depth`` deep (written iteratively)."""
    str_type = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        g = f.create_group("node")
        for level in range(depth + 1):
            g.create_dataset("type", data="NIRGraph", dtype=str_type)
            g.create_dataset("edges", data=np.zeros((0, 2), dtype=object), dtype=str_type)
            nodes = g.create_group("nodes")
            if level == 0:
                for name, kind in (("input", "Input"), ("output", "Output")):
                    n = nodes.create_group(name)
                    n.create_dataset("type", data=kind, dtype=str_type)
                    n.create_dataset("shape", data=np.array([4]))
            g = nodes.create_group(f"sub{level}")
        g.create_dataset("type", data="Input", dtype=str_type)
        g.create_dataset("shape", data=np.array([4]))


@FUZZ
@given(depth=DEPTHS)
def test_nir_subgraphs_nested_deep(depth):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "deep.nir"
        _nested_nir(f, depth)
        _code, err = feed("structure", ["inspect", f], [Path(d)])
        assert "deeper" in err, err


def _deep_json(depth: int, kind: str) -> str:
    if kind == "lists":
        return "[" * depth + "]" * depth
    if kind == "dicts":
        return '{"a": ' * depth + "1" + "}" * depth
    return '{"arch": "cnn", "neuron": ' + '{"beta": ' * depth + "0.5" + "}" * depth + "}"


@FUZZ
@given(depth=st.integers(33, 200_000), kind=st.sampled_from(["lists", "dicts", "in-spec"]),
       key=st.sampled_from(["spec", "extra"]), which=st.sampled_from(["model", "ckpt"]),
       command=st.sampled_from(["eval", "export-nir", "report", "distill-teacher"]))
def test_json_metadata_nested_deep(good, depth, kind, key, which, command):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / ("model.safetensors" if which == "model" else "epoch_0001.safetensors")
        with safe_open(str(good[which]), framework="pt") as src:
            tensors, meta = {k: src.get_tensor(k) for k in src.keys()}, dict(src.metadata())
        meta[key] = _deep_json(depth, kind)
        save_file(tensors, str(f), metadata=meta)
        _code, err = feed("structure", _model_commands(f, good, d)[command], [d])
        assert "deeper" in err, err


def _alias_bomb(width: int, levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _deep_yaml(depth: int, style: str) -> str:
    if style == "flow":
        return "a: " + "[" * depth + "]" * depth + "\n"
    if style == "block":
        return "".join("  " * i + "k:\n" for i in range(depth)) + "  " * depth + "v: 1\n"
    return "a: " + "{b: " * depth + "1" + "}" * depth + "\n"


@FUZZ
@given(where=st.sampled_from(["config", "chip"]), data=st.data(),
       how=st.sampled_from(["bomb", "deep-flow", "deep-block", "deep-map", "cycle"]))
def test_yaml_bombs_and_deep_documents(good, where, how, data):
    if how == "bomb":
        width = data.draw(st.integers(3, 12))
        levels = data.draw(st.integers(2, 12).filter(lambda n: width ** n > 200_000))
        text = _alias_bomb(width, levels)
    elif how == "cycle":
        text = "a: &a [1, *a]\n" if data.draw(st.booleans()) else "a: &a {b: *a}\n"
    else:
        text = _deep_yaml(data.draw(st.integers(33, 5000)), how.removeprefix("deep-"))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "file.yaml"
        f.write_text(text)
        argv = (["train", "-c", f, "--out-dir", d / "runs", "--name", "y", "--no-progress"] if where == "config" else
                ["report", good["snn"], "--chip", f, "--out", d / "rep", "--no-progress"])
        _code, err = feed("structure", argv, [d])
        assert any(w in err for w in ("deeper", "alias", "cycle")), err


@FUZZ
@given(depth=st.integers(33, 200_000))
def test_label_files_nested_deep(good, depth):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        event_file(d / "ev.npy")
        (d / "labels.json").write_text("[" * depth + "1" + "]" * depth)
        _code, err = feed("structure", ["stream", good["snn"], "--events", d / "ev.npy", "--window-ms", "1",
                                        "--labels", d / "labels.json"], [d])
        assert "deeper" in err, err


# ------------------------------------------------------------------------------- names that are too long

@FUZZ
@given(length=st.integers(1_000, 200_000), where=st.sampled_from(["tensor", "config-key", "nir-node", "path"]),
       data=st.data())
def test_long_names_give_bounded_lines(good, length, where, data):
    name = data.draw(st.sampled_from(["w", "x.y", "\u00e9"])) * length
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        if where == "tensor":
            f = d / "model.safetensors"
            with safe_open(str(good["model"]), framework="pt") as src:
                tensors, meta = {k: src.get_tensor(k) for k in src.keys()}, dict(src.metadata())
            key = sorted(k for k in tensors if tensors[k].is_floating_point())[0]
            tensors[name] = torch.full_like(tensors.pop(key), float("nan"))
            save_file(tensors, str(f), metadata=meta)
            argv = ["eval", f]
        elif where == "config-key":
            f = d / "cfg.yaml"
            f.write_text(json.dumps({"optim": {name: 1}}))
            argv = ["train", "-c", f, "--out-dir", d / "runs", "--name", "z", "--no-progress"]
        elif where == "nir-node":
            f = d / "model.nir"
            shutil.copy(good["nir"], f)
            with h5py.File(f, "r+") as h:
                nodes = h["node/nodes"]
                victim = sorted(k for k in nodes if "weight" in nodes[k])[0]
                nodes.move(victim, name[:60_000])  # HDF5 link names are bounded (64 KB object headers)
                del nodes[name[:60_000]]["weight"]
                nodes[name[:60_000]]["weight"] = np.full((2, 2), np.nan, np.float32)
            argv = ["inspect", f]
        else:
            argv = ["eval", d / (name[:200] + "/" + name[:200] + ".safetensors")]
        feed("long-lines", argv, [d])
