"""Impossible numbers in otherwise valid files: NaN, infinities, complex values, zero-dimensional arrays, zero or
negative strides, fractions where an integer is meant, integers that wrap when cast, thresholds beyond the
hardware's range. The field is chosen among those the file really has (by what the field means), the value
among those impossible for that meaning; each must be refused in one line naming the field."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.harness import event_file, feed

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NAN, INF = float("nan"), float("inf")


def _like(old: np.ndarray, value) -> np.ndarray:
    """``value`` in ``old``'s shape (a scalar broadcast), keeping ``value``'s own dtype."""
    v = np.asarray(value)
    return np.broadcast_to(v, old.shape).copy() if v.ndim == 0 and old.ndim else v


# NIR: field meaning -> impossible values (a function of the stored array, so shapes stay plausible)
NIR_BAD = {
    "weight": [lambda a: _like(a, NAN), lambda a: _like(a, INF), lambda a: a.astype(np.complex64) * 1j,
               lambda a: np.float32(0.5), lambda a: np.zeros((0, *a.shape[1:]), a.dtype)],
    "real": [lambda a: _like(a, NAN), lambda a: _like(a, -INF), lambda a: a.astype(np.complex128) + 2j],
    "time": [lambda a: _like(a, NAN), lambda a: _like(a, 0.0), lambda a: _like(a, -1e-3),
             lambda a: a.astype(np.complex64) * 1j],
    "integer": [lambda a: _like(a, 0), lambda a: _like(a, -2), lambda a: _like(a, 1.5), lambda a: _like(a, NAN),
                lambda a: _like(a, 1e30), lambda a: _like(a, np.uint64(2**64 - 1))],
    "shape": [lambda a: _like(a, 0), lambda a: _like(a, -3), lambda a: _like(a, 2.5), lambda a: _like(a, 2**40)],
    "dim": [lambda a: np.float64(1.5), lambda a: np.int64(1000), lambda a: np.float64(NAN)],
    "meta-positive": [lambda a: np.float64(NAN), lambda a: np.float64(0.0), lambda a: np.float64(-1.0),
                      lambda a: np.float64(INF)],
    "meta-T": [lambda a: np.int64(0), lambda a: np.int64(-4), lambda a: np.float64(2.5), lambda a: np.int64(2**40)],
}
NIR_FIELDS = {"weight": "weight", "bias": "real", "v_threshold": "real", "v_leak": "real", "v_reset": "real",
              "tau": "time", "r": "time", "stride": "integer", "dilation": "integer", "groups": "integer",
              "padding": "integer", "input_shape": "shape", "shape": "shape", "start_dim": "dim", "end_dim": "dim",
              "metadata/dt": "meta-positive", "metadata/threshold": "meta-positive", "metadata/T": "meta-T",
              "metadata/beta": "meta-positive"}


def _fields(path: Path, table: dict[str, str]) -> list[str]:
    names: list[str] = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and any(
            n.endswith("/" + k) for k in table) else None)
    return sorted(names)


def _replace(path: Path, name: str, value: np.ndarray) -> None:
    with h5py.File(path, "r+") as f:
        del f[name]
        f[name] = value


def _meaning(name: str, table: dict[str, str]) -> str:
    return next(v for k, v in sorted(table.items(), key=lambda kv: -len(kv[0])) if name.endswith("/" + k))


@FUZZ
@given(data=st.data())
def test_nir_fields_with_impossible_values(good, data):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "model.nir"
        shutil.copy(good["nir"], f)
        name = data.draw(st.sampled_from(_fields(f, NIR_FIELDS)))
        meaning = _meaning(name, NIR_FIELDS)
        if meaning == "meta-positive" and name.endswith("beta"):
            bad = data.draw(st.sampled_from(NIR_BAD[meaning] + [lambda a: np.float64(1.5)]))
        else:
            bad = data.draw(st.sampled_from(NIR_BAD[meaning]))
        with h5py.File(f, "r") as h:
            old = np.asarray(h[name][()])
        _replace(f, name, bad(old))
        _code, err = feed("values", ["inspect", f], [d])
        assert name.split("/")[-1] in err or "metadata" in err, (name, err)


# netx: field -> impossible values
NETX_BAD = {
    "weight": [lambda a: _like(a, np.uint64(2**64 - 1)), lambda a: _like(a, 0.5), lambda a: _like(a, NAN),
               lambda a: _like(a, 300), lambda a: np.int16(3), lambda a: a.astype(np.complex64)],
    "bias": [lambda a: _like(a, np.uint64(2**63 + 5)), lambda a: _like(a, 2**40), lambda a: _like(a, INF)],
    "vThMant": [lambda a: np.int64(2**40), lambda a: np.int64(1 << 17), lambda a: np.int64(-1),
                lambda a: np.float64(1.5)],
    "iDecay": [lambda a: np.int64(-1), lambda a: np.int64(5000), lambda a: np.float64(0.5)],
    "vDecay": [lambda a: np.int64(4097), lambda a: np.uint64(2**64 - 1)],
    "stride": [lambda a: _like(a, 0), lambda a: _like(a, -1), lambda a: _like(a, 2**40)],
    "dilation": [lambda a: _like(a, 0), lambda a: _like(a, 2**30)],
    "padding": [lambda a: _like(a, -1), lambda a: _like(a, 2**30)],
    "groups": [lambda a: np.int64(0), lambda a: np.int64(-2), lambda a: np.int64(2**40)],
    "shape": [lambda a: _like(a, 0), lambda a: _like(a, -5), lambda a: _like(a, 2**40)],
}
NETX_ATTRS = {"T": [0, -3, 2.5, 2**40], "input_scale": [NAN, INF, 0.0, -1.0], "readout_scale": [NAN, 0.0],
              "input_levels": [0, 2**40], "num_classes": [0, -1]}


@FUZZ
@given(data=st.data(), command=st.sampled_from(["inspect", "simulate"]))
def test_netx_fields_with_impossible_values(good, data, command):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "model.net"
        shutil.copy(good["net"], f)
        if data.draw(st.booleans()):
            name = data.draw(st.sampled_from(_fields(f, {k: k for k in NETX_BAD})))
            with h5py.File(f, "r") as h:
                old = np.asarray(h[name][()])
            _replace(f, name, data.draw(st.sampled_from(NETX_BAD[name.split("/")[-1]]))(old))
        else:
            name = data.draw(st.sampled_from(sorted(NETX_ATTRS)))
            with h5py.File(f, "r+") as h:
                h.attrs[name] = data.draw(st.sampled_from(NETX_ATTRS[name]))
        argv = ["inspect", f] if command == "inspect" else ["simulate", "lava", f, "--limit", "4", "--no-progress"]
        _code, err = feed("values", argv, [d])
        assert name.split("/")[-1] in err, (name, err)


CHIP_BAD = [".inf", "-.inf", ".nan", "-1", "0", "1.0e+400", "true", "'12'"]


@FUZZ
@given(data=st.data())
def test_chip_constants_with_impossible_values(good, data):
    from neurokd.hardware.chips import builtin_chips

    doc = yaml.safe_load(builtin_chips()["loihi"].read_text())
    consts = [(s, n) for s in ("energy", "power", "timing", "architecture") for n in (doc.get(s) or {})]
    section, name = data.draw(st.sampled_from(consts))
    bad = data.draw(st.sampled_from(CHIP_BAD + (["2.5"] if doc[section][name]["unit"] in ("count", "bit") else [])))
    doc[section][name]["value"] = "PLACEHOLDER"
    text = yaml.safe_dump(doc).replace("value: PLACEHOLDER", f"value: {bad}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        f = d / "chip.yaml"
        f.write_text(text)
        _code, err = feed("values", ["report", good["snn"], "--chip", f, "--out", d / "rep", "--no-progress"], [d])
        assert f"{section}.{name}.value" in err, err


@FUZZ
@given(seed=st.integers(2**32, 10**40) | st.integers(-(10**40), -1),
       command=st.sampled_from(["train", "robustness", "demo"]))
def test_seeds_out_of_range(good, seed, command):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        argv = {"train": ["train", "--seed", seed, "--out-dir", d / "runs", "--name", "s", "--no-progress"],
                "robustness": ["robustness", good["snn"], "--seed", seed, "--out", d / "rob", "--no-progress"],
                "demo": ["demo", "--seed", seed, "--out", d / "demo", "--no-progress"]}[command]
        _code, err = feed("values", argv, [d])
        assert "seed" in err, err


@FUZZ
@given(labels=st.lists(st.integers(-(10**30), 10**30), min_size=1, max_size=8).filter(
    lambda v: any(not 0 <= x < 10 for x in v)) | st.sampled_from([[1.5], [True], [[1]], ["3"], {"a": 1}, None]))
def test_label_files_with_impossible_labels(good, labels):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        event_file(d / "ev.npy")
        (d / "labels.json").write_text(json.dumps(labels))
        _code, err = feed("values", ["stream", good["snn"], "--events", d / "ev.npy", "--window-ms", "1",
                                     "--labels", d / "labels.json", "--json", d / "out.json"], [d])
        assert "labels" in err, err
