"""NIR 1.0.4 files (``nir_version="1.0.4"``, ``--nir-version 1.0.4``): the keys nir 1.0.4 rejects are gone, their
meaning is in the metadata, neurokd still imports them spike for spike, nir 1.0.4 itself reads them (an isolated
venv) and Sinabs 3.1 runs them spike for spike with the neuron settings their metadata states."""

import json
import subprocess
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neurokd.cli import main
from neurokd.data.digits import load
from neurokd.errors import UserError
from neurokd.exporters.nir import compare_spikes, from_nir, read, record_spikes, save, to_nir
from neurokd.exporters.nir.verify import calibrate_activity
from neurokd.models.fold import fold_batchnorm
from tests.exporters.nir import legacy_env
from tests.exporters.nir.helpers import make_snn

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sinabs_nir.py"


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load().test.get_batch(torch.arange(16))[0]


def _model(arch, x, **neuron):
    torch.manual_seed(0)
    model = make_snn(arch, list(x.shape[1:]), 4, width=8, **neuron)
    calibrate_activity(model, x)
    return model


def _save_legacy(model, path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save(to_nir(model), path, nir_version="1.0.4")
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("arch, neuron", [("resnet20", {}), ("cnn", {"type": "if"})])
def test_legacy_file_drops_exactly_what_nir_1_0_4_rejects_and_keeps_its_meaning(arch, neuron, digits, tmp_path):
    model = _model(arch, digits, **neuron)
    path = tmp_path / "m104.nir"
    messages = _save_legacy(model, path)
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "reset" in messages[0] and "spikes per step" in messages[0]
    with h5py.File(path) as f:
        assert f["version"][()] == b"1.0.4"
        nodes = f["node/nodes"]
        kinds = {n: g["type"][()].decode() for n, g in nodes.items()}
        neurons = [n for n, k in kinds.items() if k in ("LIF", "IF")]
        assert neurons and all("v_reset" not in nodes[n] for n in neurons)
        assert all("metadata" not in nodes[n] for n, k in kinds.items() if k == "AvgPool2d")
        for n in neurons:
            meta = nodes[n]["metadata"]
            assert meta["v_reset"][()] == 0.0 and meta["spikes_per_step"][()] == 1 and meta["reset"][()] == b"zero"
        if arch == "resnet20":  # the pooling node's metadata moved to the graph
            assert f["node/metadata/node_metadata/head_0/torch_module"][()] == b"AdaptiveAvgPool2d"
    # neurokd imports the legacy file as the same network, spike for spike (AdaptiveAvgPool2d included)
    net = from_nir(read(path))
    report = compare_spikes(fold_batchnorm(model), net, digits)
    assert report["spike_equal"] and report["output_equal"] and report["spikes"] > 0
    if arch == "resnet20":
        assert type(net.layers["head_0"]).__name__ == "AdaptiveAvgPool2d"


def test_current_files_are_unchanged_and_unknown_versions_refused(digits, tmp_path):
    model = _model("cnn", digits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for the current version
        save(to_nir(model), tmp_path / "m.nir")
    with h5py.File(tmp_path / "m.nir") as f:
        assert f["version"][()] == b"1.0.8" and "v_reset" in f["node/nodes/stage1_2"]
    with pytest.raises(UserError, match=r"nir_version '1\.0\.5': neurokd writes NIR 1\.0\.8 or 1\.0\.4"):
        save(to_nir(model), tmp_path / "x.nir", nir_version="1.0.5")
    assert not (tmp_path / "x.nir").exists()


def test_cli_writes_a_legacy_file_with_a_one_line_warning(digits, tmp_path, capsys):
    from neurokd.runs.checkpoint import save_model_file

    model = _model("cnn", digits, type="if")
    save_model_file(tmp_path / "model.safetensors", model, model.spec.to_dict())
    out = tmp_path / "old.nir"
    assert main(["export", "nir", str(tmp_path / "model.safetensors"), "-o", str(out), "--nir-version", "1.0.4",
                 "--verify", "8"]) == 0
    captured = capsys.readouterr()
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: NIR 1.0.4 file:") and "spikes per step" in lines[0]
    assert "spike trains identical" in captured.out and "NIR 1.0.4" in captured.out
    with pytest.raises(SystemExit):
        main(["export", "nir", str(tmp_path / "model.safetensors"), "--nir-version", "0.9"])
    assert "invalid choice: '0.9'" in capsys.readouterr().err


@pytest.fixture(scope="session")
def nir104(tmp_path_factory):
    python = legacy_env.build(tmp_path_factory.mktemp("nir104") / "venv")
    if isinstance(python, str):
        pytest.skip(python)
    return python


@pytest.mark.slow
def test_nir_1_0_4_reads_the_legacy_file_but_not_the_current_one(nir104, digits, tmp_path):
    model = _model("resnet20", digits)
    _save_legacy(model, tmp_path / "m104.nir")
    save(to_nir(model), tmp_path / "m108.nir")
    script = ("import json, sys, nir; g = nir.read(sys.argv[1]); print(json.dumps({'nir': nir.version, "
              "'types': sorted({type(n).__name__ for n in g.nodes.values()}), 'edges': len(g.edges), "
              "'meta': {k: str(v) for k, v in g.nodes['stage1_0_act2'].metadata.items()}}))")
    r = subprocess.run([str(nir104), "-c", script, str(tmp_path / "m104.nir")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    graph = to_nir(model)
    assert info["nir"] == "1.0.4" and info["edges"] == len(graph.edges)
    assert info["types"] == sorted({type(n).__name__ for n in graph.nodes.values()})
    assert info["meta"]["reset"] == "zero" and info["meta"]["spikes_per_step"] == "1"
    # what the legacy file avoids: the current files fail on exactly the keys it leaves out
    r = subprocess.run([str(nir104), "-c", script, str(tmp_path / "m108.nir")], capture_output=True, text=True)
    assert r.returncode != 0 and "AvgPool2d.__init__() got an unexpected keyword argument 'metadata'" in r.stderr
    save(to_nir(_model("cnn", digits)), tmp_path / "c108.nir")
    r = subprocess.run([str(nir104), "-c", "import sys, nir; nir.read(sys.argv[1])", str(tmp_path / "c108.nir")],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "LIF.__init__() got an unexpected keyword argument 'v_reset'" in r.stderr


@pytest.fixture(scope="session")
def sinabs_python(tmp_path_factory):
    python = legacy_env.build(tmp_path_factory.mktemp("sinabs") / "venv", sinabs=True)
    if isinstance(python, str):
        pytest.skip(python)
    return python


def _sinabs(python, model_path, x, out, *flags):
    np.save(out.with_suffix(".npy"), x.numpy())
    r = subprocess.run([str(python), str(EXAMPLE), str(model_path), str(out.with_suffix(".npy")), str(out), *flags],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return np.load(out)


@pytest.mark.slow
def test_sinabs_runs_the_legacy_file_spike_for_spike_with_the_documented_settings(sinabs_python, digits, tmp_path):
    model = _model("cnn", digits, type="if")
    _save_legacy(model, tmp_path / "m104.nir")
    ref_out, ref_spikes = record_spikes(fold_batchnorm(model), digits)
    theirs = _sinabs(sinabs_python, tmp_path / "m104.nir", digits, tmp_path / "s.npz")
    assert set(theirs.files) == {"output", *ref_spikes}
    for name, s in ref_spikes.items():
        assert np.array_equal(theirs[name], s.numpy()), name
    assert np.array_equal(theirs["output"], ref_out.numpy()) and sum(s.sum() for s in ref_spikes.values()) > 1000
    # Sinabs' own defaults (several spikes per step, subtractive reset, a floor) give other spikes
    defaults = _sinabs(sinabs_python, tmp_path / "m104.nir", digits, tmp_path / "d.npz", "--sinabs-defaults")
    assert sum(int((defaults[n] != s.numpy()).sum()) for n, s in ref_spikes.items()) > 1000
