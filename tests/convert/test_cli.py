"""``neurokd convert``: a converted run folder works with eval and the exporters; bad input is one line, exit 2."""

import json

import pytest
import yaml

from neurokd import load_model
from neurokd.runs.checkpoint import read_model_file


def _one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurokd: error:"), r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_convert_writes_a_run_folder_like_a_trained_one(tmp_path, digits_teachers, neurokd):
    r = neurokd("convert", digits_teachers["qcfs"], "--T", 4, "--out", tmp_path / "c", "--no-progress",
                "--train.threads", 1)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "c"
    assert {p.name for p in run.iterdir()} == {"config.yaml", "model.json", "model.safetensors", "summary.json"}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["conversion"] == "qcfs" and summary["levels"] == 4 and summary["kind"] == "snn"
    assert f"test_acc {summary['test_acc']:.4f}" in r.stdout
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["name"] == "digits" and cfg["convert"]["method"] == "qcfs"  # the teacher's dataset
    assert cfg["model"]["neuron"]["initial_membrane"] == 0.5 and len(cfg["model"]["neuron"]["thresholds"]) == 3
    model = load_model(run)
    assert model.is_snn and model.T == 4 and model.spec.neuron.reset == "subtract"
    extra = read_model_file(run / "model.safetensors")[2]
    assert extra["conversion"]["scales"] == summary["scales"] and extra["preprocessing"]["dataset"] == "digits"

    e = neurokd("eval", run, "--json")
    assert e.returncode == 0, e.stderr
    assert json.loads(e.stdout)[0]["acc"] == summary["test_acc"]
    with pytest.warns(UserWarning, match="NIR has no initial membrane"):  # other NIR tools would start at 0
        nir = neurokd("export", "nir", run, "-o", tmp_path / "c.nir", "--verify", 16)
    assert nir.returncode == 0 and "spike trains identical" in nir.stdout, nir.stdout + nir.stderr
    rep = neurokd("report", run, "--teacher", digits_teachers["qcfs"], "--max-samples", 16, "--out", tmp_path / "rep",
                  "--no-progress")
    assert rep.returncode == 0 and (tmp_path / "rep" / "report.json").is_file(), rep.stderr
    lava = neurokd("export", "lava", run, "-o", tmp_path / "c.net")
    _one_line_error(lava, "reset=subtract")
    assert not (tmp_path / "c.net").exists()


def test_bad_conversions_are_one_line(tmp_path, digits_teachers, neurokd):
    _one_line_error(neurokd("convert", digits_teachers["relu"], "--method", "qcfs", "--out", tmp_path / "c"),
                    "config key 'convert.method'", "threshold-balance")
    _one_line_error(neurokd("convert", digits_teachers["relu"], "--percentile", 0, "--out", tmp_path / "c"),
                    "convert.percentile")
    _one_line_error(neurokd("convert", tmp_path / "missing", "--out", tmp_path / "c"), "not found")
    ok = neurokd("convert", digits_teachers["relu"], "--T", 8, "--out", tmp_path / "c", "--no-progress")
    assert ok.returncode == 0, ok.stderr
    _one_line_error(neurokd("convert", digits_teachers["relu"], "--out", tmp_path / "c"), "already exists")
