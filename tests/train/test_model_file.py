"""Model files carry the input preprocessing; an ANN's carry no SNN fields; files written before both load."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from neurokd import load_model
from neurokd.cli import main
from neurokd.config import DataConfig, RunConfig
from neurokd.configlib import build_config
from neurokd.data import DataSplits, Normalize, load_dataset
from neurokd.data.preprocessing import InputPreprocessing, input_preprocessing
from neurokd.errors import CheckpointError
from neurokd.models import ModelSpec, build_model
from neurokd.models.spec import SNN_FIELDS, stored_spec
from neurokd.runs.checkpoint import MODEL_FORMAT, save_model_file
from neurokd.train import run_training
from tests.data.events.test_datasets import _nmnist_tree


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    common = {"out_dir": str(out), "optim.epochs": 1, "model.width": 4, "train.progress": False,
              "train.threads": 1, "model.T": 3}
    return {kind: run_training(build_config(RunConfig, overrides={**common, "name": kind, "model.kind": kind}))
            for kind in ("ann", "snn")}


def _metadata(path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_an_ann_model_file_and_model_json_carry_no_snn_fields(runs):
    ann, snn = runs["ann"].run_dir, runs["snn"].run_dir
    for spec in (json.loads(_metadata(ann / "model.safetensors")["spec"]), json.loads((ann / "model.json").read_text())):
        assert spec["kind"] == "ann" and not set(SNN_FIELDS) & set(spec)
    spec = json.loads(_metadata(snn / "model.safetensors")["spec"])
    assert spec["T"] == 3 and spec["neuron"]["type"] == "lif" and spec["encoder"] == "direct"
    assert load_model(ann).spec.kind == "ann" and load_model(snn).T == 3


def test_the_model_file_says_what_input_the_model_expects(runs):
    model = load_model(runs["snn"].run_dir)
    prep = model.preprocessing
    assert prep == InputPreprocessing(dataset="digits", input_shape=[1, 8, 8],
                                      scaling="pixel / 16: scikit-learn's 0..16 grey levels to [0, 1]")
    assert prep.normalize() is None
    extra = json.loads(_metadata(runs["ann"].run_dir / "model.safetensors")["extra"])
    assert extra["preprocessing"]["dataset"] == "digits" and "mean" not in extra["preprocessing"]


def test_normalization_is_recorded_and_reproduces_the_datasets(tmp_path):
    norm = Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    splits = DataSplits("cifar10", None, None, None, 10, [3, 32, 32], normalize=norm)
    prep = InputPreprocessing.from_dict(json.loads(json.dumps(input_preprocessing(splits, DataConfig()).to_dict())))
    assert prep.scaling == "uint8 pixel / 255 to [0, 1]" and prep.mean == [0.4914, 0.4822, 0.4465]
    x = torch.rand(2, 3, 4, 4)
    assert torch.equal(prep.normalize()(x), norm(x))


def test_event_data_records_how_events_became_frames(tmp_path):
    _nmnist_tree(tmp_path, n_per=1)
    cfg = build_config(DataConfig, overrides={"name": "nmnist", "root": str(tmp_path), "denoise_ms": 2.0})
    prep = input_preprocessing(load_dataset(cfg, T=5), cfg)
    assert (prep.time_bins, prep.bin_ms, prep.denoise_ms, prep.sensor_size) == (5, 60.0, 2.0, [34, 34, 2])
    assert prep.input_shape == [2, 34, 34] and prep.from_first_event is False and "event counts" in prep.scaling


def test_files_written_before_load_and_a_malformed_entry_is_one_line(tmp_path, capsys):
    model = build_model(ModelSpec(arch="cnn", kind="ann", width=4, num_classes=10, input_shape=[1, 8, 8]))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    old = tmp_path / "old.safetensors"  # an ANN with T / neuron / encoder and no preprocessing
    save_file(state, str(old), metadata={"format": MODEL_FORMAT, "spec": json.dumps(model.spec.to_dict())})
    loaded = load_model(old)
    assert loaded.preprocessing is None and loaded.spec.kind == "ann"
    bad = tmp_path / "bad.safetensors"
    save_model_file(bad, model, model.spec.to_dict(), extra={"preprocessing": {"dataset": "digits"}})
    with pytest.raises(CheckpointError, match="stored input preprocessing is malformed"):
        load_model(bad)
    assert main(["eval", str(bad)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "bad.safetensors" in err[0]


def test_stored_spec_drops_snn_fields_of_an_ann_only():
    ann = ModelSpec(kind="ann").to_dict()
    assert stored_spec(ann) == {k: v for k, v in ann.items() if k not in ("T", "encoder", "neuron")}
    assert stored_spec(ModelSpec(kind="snn").to_dict()) == ModelSpec(kind="snn").to_dict()
    assert ModelSpec.from_dict(stored_spec(ann)) == ModelSpec(kind="ann")
