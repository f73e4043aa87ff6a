"""``distill.init: converted``: every method starts its student from the converted teacher."""

import pytest
import torch
import yaml

from neurokd import load_model
from neurokd.config import ConvertConfig
from neurokd.convert.init import init_student_from_teacher
from neurokd.convert.methods import convert_model
from neurokd.data import load_dataset
from neurokd.distill import distill
from neurokd.errors import ConfigError, UserError
from neurokd.train.setup import model_spec_for
from tests.convert.conftest import run_cfg

CONVERTED = {"distill.init": "converted", "model.neuron.type": "if", "model.neuron.reset": "subtract"}


def test_student_is_the_converted_teacher(tmp_path, digits_teachers):
    cfg = run_cfg(tmp_path, **CONVERTED)
    splits = load_dataset(cfg.data, 0)
    teacher = load_model(digits_teachers["qcfs"])
    student, conversion = init_student_from_teacher(model_spec_for(cfg, splits), teacher, splits, ConvertConfig())
    assert conversion.method == "qcfs"  # auto: the teacher was trained with QCFS
    assert student.spec.neuron.thresholds == list(conversion.thresholds.values())
    assert student.spec.neuron.initial_membrane == 0.5 and student.spec.neuron.surrogate == cfg.model.neuron.surrogate
    x = splits.test.get_batch(torch.arange(32))[0]
    with torch.no_grad():
        assert torch.equal(student.eval()(x), convert_model(teacher, 4, "qcfs").model(x))


@pytest.mark.parametrize("method,backprop", [("response", "bptt"), ("feature", "bptt"), ("blockwise", "rate"),
                                             ("blockwise", "bptt")])
def test_every_method_trains_from_the_conversion(tmp_path, digits_teachers, method, backprop):
    teacher = digits_teachers["relu"]
    over = {**CONVERTED, "distill.method": method, "distill.teacher": str(teacher), "train.backprop": backprop,
            "optim.epochs": 1, "optim.lr": 1e-7}
    result = distill(run_cfg(tmp_path, **over))
    assert result.summary["init"] == "converted"
    config = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert config["convert"]["method"] == "threshold-balance"  # what auto chose for a ReLU teacher
    saved = config["model"]["neuron"]
    model = load_model(result.run_dir)  # the model file rebuilds the thresholds from its spec
    assert model.spec.neuron.thresholds == saved["thresholds"] and len(saved["thresholds"]) == 3
    splits = load_dataset(run_cfg(tmp_path).data, 0)
    calib = splits.train.get_batch(torch.arange(1024))[0]
    converted = convert_model(load_model(teacher), 4, "threshold-balance", [calib]).model
    assert saved["thresholds"] == converted.spec.neuron.thresholds
    for name, w in converted.state_dict().items():  # a tiny learning rate: the weights are still the conversion's
        if name.endswith(".weight") and w.ndim > 1:
            assert (model.state_dict()[name] - w).abs().max() < 1e-4, name


def test_converted_init_needs_the_converted_neuron_and_architecture(tmp_path, digits_teachers):
    base = {"distill.method": "response", "distill.teacher": str(digits_teachers["relu"]), "optim.epochs": 1}
    with pytest.raises(ConfigError, match="set --model.kind snn --model.neuron.type if --model.neuron.reset subtract"):
        distill(run_cfg(tmp_path, **base, **{"distill.init": "converted"}))
    with pytest.raises(UserError, match="does not have the teacher's architecture"):
        distill(run_cfg(tmp_path, **base, **CONVERTED, **{"model.width": 4}))
    assert not (tmp_path / "r").exists()  # refused before any run folder was made
