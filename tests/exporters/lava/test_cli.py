"""``neurokd export lava`` and ``neurokd simulate lava`` end to end; bad input -> one line, exit code 2."""

import json
import subprocess
import sys

import pytest


def neurokd(*args):
    return subprocess.run([sys.executable, "-m", "neurokd", *map(str, args)], capture_output=True, text=True)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.slow
def test_export_then_simulate_numpy_and_lava(trained_snn, tmp_path):
    run_dir, _ = trained_snn
    out = tmp_path / "model.net"
    r = neurokd("export", "lava", run_dir, "-o", out, "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert out.is_file() and exported["path"] == str(out)
    assert [la["role"] for la in exported["report"]["layers"]] == ["spiking"] * 3 + ["readout"]
    verify = exported["verify"]
    assert verify["n"] == 360 and abs(verify["fixed_acc"] - verify["float_acc"]) <= 0.01

    r = neurokd("simulate", "lava", out, "--no-progress", "--json")
    assert r.returncode == 0, r.stderr
    sim = json.loads(r.stdout)
    assert sim["dataset"] == "digits" and sim["n"] == 360 and sim["acc"] == verify["fixed_acc"]
    assert sim["latency_steps"] == 4 and sim["steps_per_s"] > 0
    assert [la["name"] for la in sim["layers"]] == ["stage1.0", "stage2.0", "stage3.0", "head.1"]
    assert sim["layers"][0]["spikes_per_sample"] > 0 and sim["layers"][-1]["spikes_per_sample"] == 0

    r_lava = neurokd("simulate", "lava", out, "--backend", "lava", "--limit", 3, "--no-progress", "--json")
    r_np = neurokd("simulate", "lava", out, "--limit", 3, "--no-progress", "--json")
    assert r_lava.returncode == 0, r_lava.stderr
    lava, numpy = json.loads(r_lava.stdout), json.loads(r_np.stdout)
    assert lava["n"] == 3 and lava["acc"] == numpy["acc"]
    assert [la["spikes_per_sample"] for la in lava["layers"]] == [la["spikes_per_sample"] for la in numpy["layers"]]

    table = neurokd("simulate", "lava", out, "--limit", 20, "--no-progress")
    assert table.returncode == 0 and "| numpy" in table.stdout and "stage1.0" in table.stdout


def test_malformed_net_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_bytes(b"junk")
    one_line_error(neurokd("simulate", "lava", bad, "--dataset", "digits"), "bad.net", "not a readable HDF5 file")
    one_line_error(neurokd("simulate", "lava", tmp_path / "missing.net"), "missing.net", "no such file")


@pytest.mark.slow
def test_bad_options_and_non_neurokd_files(tmp_path, conv_net_file):
    one_line_error(neurokd("simulate", "lava", conv_net_file, "--limit", 0), "--limit must be >= 1")
    one_line_error(neurokd("simulate", "lava", conv_net_file), "records no dataset; pass --dataset")
    one_line_error(neurokd("simulate", "lava", conv_net_file, "--dataset", "digits"), "not written by neurokd")
    r = neurokd("export")
    assert r.returncode == 2 and "TARGET" in r.stderr


@pytest.mark.slow
def test_exporting_an_ann_run_is_refused(tmp_path):
    r = neurokd("teacher", "--out", tmp_path, "--name", "t", "--epochs", 1, "--model.width", 4, "--no-progress")
    assert r.returncode == 0, r.stderr
    one_line_error(neurokd("export", "lava", tmp_path / "t", "-o", tmp_path / "t.net"), "ANN")
    assert not (tmp_path / "t.net").exists()
