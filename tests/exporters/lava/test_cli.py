"""``neurokd export lava`` and ``neurokd simulate lava`` end to end; bad input -> one line, exit code 2.

The end-to-end runs go through a fresh interpreter (``python -m neurokd``); the error cases call the same
``neurokd.cli.main`` in-process, which is what the command runs after parsing.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from neurokd.cli import main


def neurokd(*args):
    return subprocess.run([sys.executable, "-m", "neurokd", *map(str, args)], capture_output=True, text=True)


def one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


def run_main(capsys, *args):
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse errors
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.slow
def test_export_then_simulate_numpy_and_lava(trained_snn, tmp_path):
    from neurokd.config import DataConfig
    from neurokd.data import load_dataset
    from neurokd.exporters.lava import simulate

    run_dir, _ = trained_snn
    out = tmp_path / "model.net"
    r = neurokd("export", "lava", run_dir, "-o", out, "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert out.is_file() and exported["path"] == str(out)
    assert [la["role"] for la in exported["report"]["layers"]] == ["spiking"] * 3 + ["readout"]
    verify = exported["verify"]
    assert verify["n"] == 360 and abs(verify["fixed_acc"] - verify["float_acc"]) <= 0.01

    r = neurokd("simulate", "lava", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "| numpy" in r.stdout and "| stage1.0" in r.stdout and "latency: 4 steps" in r.stdout

    r = neurokd("simulate", "lava", out, "--backend", "lava", "--limit", 3, "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    lava = json.loads(r.stdout)
    assert lava["dataset"] == "digits" and lava["n"] == 3 and lava["latency_steps"] == 4
    assert [la["name"] for la in lava["layers"]] == ["stage1.0", "stage2.0", "stage3.0", "head.1"]
    test = load_dataset(DataConfig()).test
    ours = simulate(out, test.x[:3].numpy())
    assert lava["acc"] == ours.accuracy(test.y[:3].numpy())
    assert [la["spikes_per_sample"] for la in lava["layers"]] == ours.spikes_per_sample()


def test_simulate_json_on_the_numpy_model(trained_snn, tmp_path, capsys):
    from neurokd.config import DataConfig
    from neurokd.data import load_dataset
    from neurokd.exporters.lava import to_netx

    _run, model = trained_snn
    splits = load_dataset(DataConfig())
    to_netx(model, tmp_path / "m.net", calibration=splits.train.x, meta={"data": {"name": "digits"}})
    assert main(["simulate", "lava", str(tmp_path / "m.net"), "--no-progress", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["n"] == 360 and 0.9 < sim["acc"] <= 1 and sim["steps_per_s"] > 0
    assert sim["layers"][0]["spikes_per_sample"] > 0 and sim["layers"][-1]["spikes_per_sample"] == 0
    rates = [la["rate"] for la in sim["layers"][:-1]]
    assert all(0 < r < 1 for r in rates) and np.isfinite(rates).all()


def test_malformed_net_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_bytes(b"junk")
    r = neurokd("simulate", "lava", bad, "--dataset", "digits")
    one_line_error(r.returncode, r.stderr, "bad.net", "not an HDF5 file")


def test_bad_options_and_non_neurokd_files(tmp_path, conv_net_file, capsys):
    one_line_error(*run_main(capsys, "simulate", "lava", tmp_path / "missing.net"), "missing.net", "not found")
    one_line_error(*run_main(capsys, "simulate", "lava", conv_net_file, "--limit", 0), "argument --limit: must be >= 1")
    one_line_error(*run_main(capsys, "simulate", "lava", conv_net_file), "records no dataset; pass --dataset")
    one_line_error(*run_main(capsys, "simulate", "lava", conv_net_file, "--dataset", "digits"),
                   "not written by neurokd")
    one_line_error(*run_main(capsys, "export"), "TARGET")
    one_line_error(*run_main(capsys, "export", "lava", tmp_path / "nowhere"), "nowhere", "not found")


def test_exporting_an_ann_run_is_refused(tmp_path, capsys):
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.train import run_training

    cfg = build_config(RunConfig, overrides={"name": "t", "out_dir": str(tmp_path), "model.kind": "ann",
                                             "model.width": 4, "optim.epochs": 1, "train.progress": False})
    run_training(cfg)
    capsys.readouterr()  # the training's epoch lines
    one_line_error(*run_main(capsys, "export", "lava", tmp_path / "t", "-o", tmp_path / "t.net"), "ANN")
    assert not (tmp_path / "t.net").exists()


def test_inspect_net_files(tmp_path, conv_net_file, capsys):
    assert main(["inspect", str(conv_net_file)]) == 0
    out = capsys.readouterr().out
    assert "4 conv/dense layers" in out and "| conv" in out and "| flatten" in out and "2x6x5" in out
    assert main(["inspect", str(conv_net_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in info["layer_table"]] == ["input", "conv", "conv", "flatten", "dense", "dense"]
    assert info["layer_table"][1]["vThMant"] == 300 and info["metadata"] == {"T": 4}
    bad = tmp_path / "bad.net"
    bad.write_bytes(b"junk")
    one_line_error(*run_main(capsys, "inspect", bad), "bad.net", "not an HDF5 file")


@pytest.mark.slow
def test_event_data_run_exports_simulates_and_streams(tmp_path, capsys):
    """A saccade-digits SNN run: export (calibrated on event frames), simulate on T-frame test sequences, and
    stream the .net file; the three agree with each other."""
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.train import run_training

    cfg = build_config(RunConfig, overrides={
        "name": "ev", "out_dir": str(tmp_path), "data.name": "saccade-digits", "model.kind": "snn", "model.T": 3,
        "model.width": 4, "optim.epochs": 1, "optim.lr": 3e-3, "train.progress": False, "train.threads": 1})
    run = run_training(cfg).run_dir
    net = tmp_path / "ev.net"
    assert main(["export", "lava", str(run), "-o", str(net), "--verify", "100", "--json", "--no-progress"]) == 0
    verify = json.loads(capsys.readouterr().out)["verify"]
    assert verify["n"] == 100 and verify["agreement"] >= 0.9
    assert main(["simulate", "lava", str(net), "--limit", "100", "--json", "--no-progress"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["dataset"] == "saccade-digits" and sim["n"] == 100 and sim["T"] == 3
    assert sim["acc"] == verify["fixed_acc"]
    # the same 100 test recordings as one stream through the .net file: the same accuracy, window by window
    from neurokd.data import load_dataset
    from neurokd.data.events import write_events_npy
    from neurokd.stream import concat_recordings

    test = load_dataset(cfg.data, 0, T=3).test
    events, labels = tmp_path / "s.npy", tmp_path / "labels.json"
    write_events_npy(events, concat_recordings([test.events(i) for i in range(100)], 300_000))
    labels.write_text(json.dumps(test.y[:100].tolist()))
    out = tmp_path / "stream.json"
    assert main(["stream", str(net), "--events", str(events), "--window-ms", "100", "--labels", str(labels),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())["summary"]
    assert report["backend"] == "loihi-fixed" and report["windows"] == 300 and report["accuracy"] == sim["acc"]
    # the run folder itself, quantized on the fly with the input range of its training split: the same network
    assert main(["stream", str(run), "--events", str(events), "--backend", "loihi-fixed", "--labels", str(labels),
                 "--json", str(out)]) == 0
    again = json.loads(out.read_text())["summary"]
    assert again["backend"] == "loihi-fixed" and again["accuracy"] == sim["acc"]


@pytest.fixture
def resnet_model_file(tmp_path):
    """An untrained but spiking resnet20 for digits (input 1x8x8, 10 classes) saved as a model file."""
    import torch

    from neurokd.models import ModelSpec, build_model
    from neurokd.runs.checkpoint import save_model_file

    torch.manual_seed(0)
    spec = ModelSpec(arch="resnet20", kind="snn", T=4, width=4, num_classes=10, input_shape=[1, 8, 8])
    model = build_model(spec).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.uniform_(0.0, 0.5)
    path = tmp_path / "res" / "model.safetensors"
    path.parent.mkdir()
    save_model_file(path, model, spec.to_dict())
    return path


def test_residual_run_exports_inspects_and_simulates_as_a_graph(resnet_model_file, capsys):
    args = ["--dataset", "digits", "--calibration", "64", "--verify", "40", "--no-progress"]
    assert main(["export", "lava", str(resnet_model_file), *args, "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    out = resnet_model_file.parent / "model.lava"  # the default name of the graph form
    assert exported["path"] == str(out) and exported["form"] == "graph" and out.is_file()
    assert exported["verify"]["n"] == 40 and 0 <= exported["verify"]["agreement"] <= 1
    assert exported["report"]["layers"][2]["kind"] == "conv+identity"

    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Lava graph, 20 populations" in text and "fan-in up to 2" in text and "latency 20 steps" in text
    assert "| stage1_0_act2_identity | identity | stem_2" in text
    assert main(["inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    adds = [p["population"] for p in info["populations"] if p["inputs"] == 2]
    assert len(adds) == 9 and {p["delay"] for p in info["projections"]} == {0, 1}

    assert main(["simulate", "lava", str(out), "--limit", "12", "--no-progress", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["n"] == 12 and sim["latency_steps"] == 20 and sim["layers"][3]["name"] == "stage1_1_act1"

    one_line_error(*run_main(capsys, "export", "lava", resnet_model_file, "-o", resnet_model_file.parent / "m.net",
                             *args), "m.net", "residual connections", ".lava")
    assert not (resnet_model_file.parent / "m.net").exists()
