"""The public Python API at the package root: the whole job in a few calls, validated keyword settings."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import neurokd
import neurokd as nk
from neurokd.config import DataConfig, OptimConfig, RunConfig, TrainConfig
from neurokd.errors import ConfigError
from neurokd.models.spec import ModelSpec, NeuronSpec

QUICK = {"dataset": "digits", "epochs": 2, "width": 8, "progress": False, "threads": 1}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    teacher = nk.train_teacher(**QUICK, arch="cnn", name="teacher", out_dir=str(out))
    student = nk.distill_snn(teacher.run_dir, method="blockwise", backprop="rate", T=2, name="bw", out_dir=str(out),
                             **QUICK)
    return out, teacher, student


def test_train_distill_evaluate_export_from_python(runs, tmp_path):
    out, teacher, student = runs
    assert teacher.summary["kind"] == "ann" and student.summary["method"] == "blockwise"
    assert student.summary["backprop"] == "rate" and student.summary["T"] == 2
    res = nk.evaluate(out / "bw")
    assert res["acc"] == pytest.approx(student.summary["test_acc"]) and res["n"] == 360
    nir_file = nk.export_nir(out / "bw", tmp_path / "bw.nir")  # records the run's dataset
    assert nk.evaluate(nir_file)["acc"] == res["acc"]  # the importer is spike-exact
    saved = nk.save_model(student.model, tmp_path / "bw.safetensors")
    again = nk.load_model(saved)
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(again(x), student.model.eval()(x))
    assert nk.evaluate(saved, dataset="digits")["acc"] == res["acc"]


def test_lava_export_simulate_and_hardware_report(runs, tmp_path):
    out, _teacher, student = runs
    from neurokd.data import load_split

    train_x, _ = load_split(DataConfig(), "train").tensors(256)
    report = nk.export_lava(student.model, tmp_path / "bw.net", calibration=train_x)
    assert report.layers
    x, y = load_split(DataConfig(), "test").tensors(32)
    sim = nk.simulate(tmp_path / "bw.net", x.numpy())
    assert sim.n == 32 and 0 <= sim.accuracy(y.numpy()) <= 1
    hw = nk.report(out / "bw", chips=["loihi"], out=tmp_path / "hw")
    assert hw.snn.synops > 0 and (tmp_path / "hw" / "report.json").is_file()


def test_distill_from_any_module_teacher(runs):
    out, teacher, _ = runs
    r = nk.distill_snn(teacher.model, method="response", T=2, name="from-module", out_dir=str(out), **QUICK)
    assert r.summary["teacher"] == "<TwinNet module>" and r.summary["teacher_test_acc"] > 0.5


def test_convert_a_teacher_from_python(runs):
    out, teacher, _ = runs
    r = nk.convert_snn(teacher.run_dir, T=8, name="converted", out_dir=str(out), threads=1, progress=False)
    assert r.summary["conversion"] == "threshold-balance" and r.summary["dataset"] == "digits"  # the teacher's
    assert r.summary["teacher_test_acc"] == pytest.approx(teacher.summary["test_acc"])
    assert nk.evaluate(r.run_dir)["acc"] == pytest.approx(r.summary["test_acc"])
    with pytest.raises(ConfigError, match="config key 'convert.method'.*threshold-balance"):
        nk.convert_snn(teacher.model, method="qcfs", dataset="digits", name="no", out_dir=str(out))


def test_keyword_settings_validate_and_name_their_key():
    cfg = nk.run_config(dataset="mnist1d", lr=0.01, width=8, T=2, **{"model.neuron.beta": 0.9},
                        optim={"weight_decay": 1e-4})
    assert (cfg.data.name, cfg.optim.lr, cfg.model.width, cfg.model.T) == ("mnist1d", 0.01, 8, 2)
    assert cfg.model.neuron.beta == 0.9 and cfg.optim.weight_decay == 1e-4
    with pytest.raises(ConfigError, match="'beta' is ambiguous.*model.neuron.beta, distill.beta"):
        nk.run_config(beta=0.5)
    with pytest.raises(ConfigError, match="'lrr': no config key"):
        nk.run_config(lrr=0.5)
    with pytest.raises(ConfigError, match="config key 'optim.lr': expected a number, got 'fast'"):
        nk.run_config(lr="fast")


@pytest.mark.parametrize("build, message", [
    (lambda: OptimConfig(lr="fast"), "config key 'optim.lr': expected a number, got 'fast'"),
    (lambda: OptimConfig(epochs=0), "config key 'optim.epochs': must be >= 1, got 0"),
    (lambda: TrainConfig(backprop="magic"), "config key 'train.backprop': expected one of"),
    (lambda: DataConfig(name="imagenet"), "config key 'data.name': expected one of 'digits'"),
    (lambda: NeuronSpec(beta=2.0), "config key 'model.neuron.beta': must be <= 1.0"),
    (lambda: ModelSpec(arch="alexnet"), "config key 'model.arch': expected one of 'cnn'"),
    (lambda: RunConfig(optim={"lr": -1}), "config key 'optim.lr': must be > 0.0"),
    (lambda: RunConfig(name="../x"), "config key 'name'"),
])
def test_config_objects_validate_on_construction(build, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_config_objects_coerce_like_yaml():
    cfg = RunConfig(model={"width": 32, "neuron": {"beta": 1}}, optim=OptimConfig(lr=1))
    assert cfg.model.width == 32 and cfg.model.neuron.beta == 1.0 and isinstance(cfg.optim.lr, float)


def test_api_names_never_shadow_a_subpackage():
    # importing neurokd.<name> sets the package attribute <name> to that module: an API function of the same name
    # would then be unreachable
    modules = {m.name for m in pkgutil.iter_modules(neurokd.__path__)}
    assert not set(nk.__all__) & modules
    importlib.import_module("neurokd.distill")
    importlib.import_module("neurokd.stream")
    importlib.import_module("neurokd.convert")
    assert callable(nk.distill_snn) and callable(nk.stream_events) and callable(nk.convert_snn)


def test_import_neurokd_is_light():
    code = "import sys, neurokd; neurokd.run_config(dataset='digits'); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


def test_stream_events_from_python(tmp_path):
    """``stream_events`` = the float SNN on the stream's windows, state carried: the prediction at a recording's
    last window equals offline inference on its T binned frames."""
    from neurokd.data.events import to_frames, write_events_npy
    from neurokd.data.events.saccade import SENSOR_SIZE, SaccadeConfig, _digit_images, simulate
    from neurokd.models import build_model

    D, T = SaccadeConfig().duration_us, 3
    imgs, _labels = _digit_images()
    ev, off = simulate(imgs[:1], SaccadeConfig())
    torch.manual_seed(0)
    model = build_model(ModelSpec(arch="cnn", kind="snn", T=T, width=8, num_classes=10, input_shape=[2, 34, 34],
                                  neuron=NeuronSpec(beta=0.9, threshold=0.5))).eval()
    write_events_npy(tmp_path / "ev.npy", ev)
    rep = nk.stream_events(model, tmp_path / "ev.npy", window_ms=D / T / 1000, reset_every=T)
    frames = torch.from_numpy(to_frames(ev, SENSOR_SIZE, T, D // T).astype(np.float32)).unsqueeze(1)
    with torch.no_grad():
        offline = int(model(frames).argmax(1))
    assert len(rep.windows) == T and rep.windows[-1].pred == offline
