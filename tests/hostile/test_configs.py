"""Hostile configs: random YAML documents and plausible configs broken in one place, through `neurokd train`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurokd.config import RunConfig
from neurokd.configlib import leaf_fields
from tests.hostile.harness import feed

KEYS = [name for name, _tp, _f in leaf_fields(RunConfig)]
SECTIONS = sorted({k.split(".")[0] for k in KEYS})
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | st.sampled_from(["digits", "cnn", "snn", "../../x", "/etc", "1e-3", "~", "-1"]))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.sampled_from(SECTIONS + [k.split(".")[-1] for k in KEYS]) | st.text(max_size=6), c, max_size=4), max_leaves=8)
documents = st.dictionaries(
    st.sampled_from(SECTIONS + KEYS + ["name", "nonsense"]), values, max_size=5
).map(lambda d: _nest(d))


def _nest(flat: dict) -> dict:
    out: dict = {}
    for k, v in flat.items():
        node = out
        *heads, last = str(k).split(".")
        for h in heads:
            node = node.setdefault(h, {}) if isinstance(node.get(h, {}), dict) else node
        node[last] = v
    return out


def _train(cfg_file: Path, out: Path, *extra: str) -> list[str]:
    # --epochs 0 guarantees a config error even when the document happens to be valid
    return ["train", "-c", cfg_file, "--out-dir", out, "--name", "fz", "--no-progress", "--train.threads", "1", *extra]


@FUZZ
@given(doc=documents)
def test_random_yaml_documents(doc):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cfg = d / "cfg.yaml"
        cfg.write_text(yaml.safe_dump(doc))
        feed("config", _train(cfg, d / "runs", "--epochs", "0"), [d / "runs", d])


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_raw_bytes_as_config(raw):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        cfg = d / "cfg.yaml"
        cfg.write_bytes(raw)
        feed("config", _train(cfg, d / "runs", "--epochs", "0"), [d / "runs", d])


BROKEN: dict[str, dict] = {
    "cifar root missing": {"data": {"name": "cifar10", "root": "{d}/nope"}},
    "cifar root is a file": {"data": {"name": "cifar10", "root": "{d}/cfg.yaml"}},
    "cifar root empty": {"data": {"name": "cifar10", "root": "{d}/empty"}},
    "imagefolder without root": {"data": {"name": "imagefolder"}},
    "imagefolder of garbage images": {"data": {"name": "imagefolder", "root": "{d}/images"}},
    "nmnist of garbage events": {"data": {"name": "nmnist", "root": "{d}/nmnist"}},
    "dvsgesture empty": {"data": {"name": "dvsgesture", "root": "{d}/empty"}},
    "1-D arch on images": {"model": {"arch": "cnn1d"}},
    "2-D arch on 1-D data": {"data": {"name": "mnist1d"}, "model": {"arch": "resnet19"}},
    "crop on 1-D data": {"data": {"name": "mnist1d", "augment": ["crop"]}},
    "class count mismatch": {"model": {"num_classes": 3}},
    "input shape mismatch": {"model": {"input_shape": [3, 32, 32]}},
    "input shape nonsense": {"model": {"input_shape": [0, -1]}},
    "event bins vs T": {"data": {"name": "saccade-digits", "time_bins": 3}, "model": {"T": 2}},
    "device missing": {"train": {"device": "cuda:7"}},
    "device nonsense": {"train": {"device": "quantum"}},
    "run name escapes": {"name": "../../escaped"},
    "absolute run name": {"name": "/tmp/abs"},
    "run name with separator": {"name": "a/b"},
    "run name dot-dot": {"name": ".."},
    "distill keys in train": {"distill": {"method": "response"}},
    "huge image size": {"data": {"name": "imagefolder", "root": "{d}/images", "image_size": 7}},
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_plausible_configs_broken_in_one_place(case, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "images" / "cat").mkdir(parents=True)
    (tmp_path / "images" / "dog").mkdir(parents=True)
    for i, cls in enumerate(["cat", "dog"]):
        (tmp_path / "images" / cls / f"{i}.png").write_bytes(b"\x89PNG garbage")
    for split in ("Train", "Test"):
        folder = tmp_path / "nmnist" / split / "0"
        folder.mkdir(parents=True)
        (folder / "00001.bin").write_bytes(b"\x01\x02\x03")
    text = yaml.safe_dump({"optim": {"epochs": 1}, "model": {"width": 4, "T": 2}, "data": {"batch_size": 64}})
    doc = yaml.safe_load(text)
    for section, value in BROKEN[case].items():
        if isinstance(value, dict):
            doc.setdefault(section, {}).update(value)
        else:
            doc[section] = value
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(doc).replace("{d}", str(tmp_path)))
    argv = ["train", "-c", cfg, "--out-dir", tmp_path / "runs", "--no-progress", "--train.threads", "1"]
    if "name" not in BROKEN[case]:
        argv += ["--name", "fz"]
    feed("config", argv, [tmp_path / "runs", Path("/tmp/abs"), tmp_path.parent / "escaped"])


# counts where a huge value means "all of them" (one chunk holds every step): valid at any size
ALL_STEPS = {"train.time_chunk", "train.rate_chunk"}
INT_KEYS = [name for name, tp, _f in leaf_fields(RunConfig) if "int" in str(tp) and name not in ALL_STEPS]


@pytest.mark.parametrize("key", INT_KEYS)
@pytest.mark.parametrize("value", [10**30, 2**63, -(2**63)])
def test_every_integer_key_out_of_range(key, value, tmp_path):
    """Every integer config key, far out of its range: refused in one line before anything is loaded or written
    (a bound, the resource guard or a check against the data), never an OverflowError or a run for ever."""
    _code, text = feed("config", ["train", "--out-dir", tmp_path / "runs", "--name", "fz", "--no-progress",
                                  f"--{key}", str(value)], [tmp_path / "runs"], timeout=60)
    assert key.split(".")[-1] in text or "memory" in text, text
