"""``neurokd export nir`` and ``neurokd inspect``: end to end through the command line."""

import json

import pytest

from tests.cli.test_cli import _one_line_error, neurokd


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for cmd, name in (("train", "snn"), ("teacher", "ann")):
        r = neurokd(cmd, "--out-dir", out, "--name", name, "--epochs", 2, "--model.width", 8, "--no-progress",
                    "--train.threads", 1)
        assert r.returncode == 0, r.stderr
    return out


def test_export_then_inspect(runs, tmp_path):
    out = tmp_path / "model.nir"
    r = neurokd("export", "nir", runs / "snn", "-o", out, "--verify", 32)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and f"wrote {out}" in r.stdout
    assert "32 digits test samples: spike trains identical" in r.stdout and "0 mismatches" in r.stdout
    i = neurokd("inspect", out)
    assert i.returncode == 0, i.stderr
    assert "| stage1_2 | LIF" in i.stdout and "beta=0.5" in i.stdout and "reset=zero" in i.stdout
    assert "| head_1   | Affine  | 128    | 10" in i.stdout and "runs in neurokd: yes" in i.stdout
    j = json.loads(neurokd("inspect", out, "--json").stdout)
    assert j["nodes"] == 10 and j["metadata"]["T"] == 4 and j["metadata"]["producer"] == "neurokd"
    assert j["params"] == sum(row["params"] for row in j["node_table"] if row["params"] != "-")


def test_export_defaults_into_run_folder_and_other_T(runs):
    r = neurokd("export", "nir", runs / "snn", "--T", 6, "--dt", 1e-3, "--verify", 8, "--compress")
    assert r.returncode == 0, r.stderr
    j = json.loads(neurokd("inspect", runs / "snn" / "model.nir", "--json").stdout)
    assert j["metadata"]["T"] == 6 and j["metadata"]["dt"] == 1e-3


def test_bad_input_is_one_line(runs, tmp_path):
    _one_line_error(neurokd("export", "nir", runs / "ann", "-o", tmp_path / "a.nir"), "ANN", "SNN run")
    assert not (tmp_path / "a.nir").exists()
    _one_line_error(neurokd("export", "nir", tmp_path / "missing"), "missing", "not found")
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # HDF5 signature, nothing behind it
    _one_line_error(neurokd("inspect", junk), "junk.nir", "truncated or corrupt")
    _one_line_error(neurokd("inspect", tmp_path / "x.onnx"), "x.onnx", "unknown file type")
    r = neurokd("export", "lava-typo", runs / "snn")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_inspect_lists_residual_nodes_in_topological_order(tmp_path, capsys):
    """Every node after the nodes feeding it: a block's act1 before its act2 (breadth-first put act2 first)."""
    import torch

    from neurokd.cli import main
    from neurokd.exporters.nir import save, to_nir
    from neurokd.models import ModelSpec, build_model

    torch.manual_seed(0)
    graph = to_nir(build_model(ModelSpec(arch="resnet20", kind="snn", T=2, width=4, num_classes=10,
                                         input_shape=[3, 8, 8])))
    save(graph, tmp_path / "r.nir")
    assert main(["inspect", str(tmp_path / "r.nir"), "--json"]) == 0
    names = [row["node"] for row in json.loads(capsys.readouterr().out)["node_table"]]
    assert sorted(names) == sorted(graph.nodes)
    position = {n: i for i, n in enumerate(names)}
    assert all(position[a] < position[b] for a, b in graph.edges)
    assert position["stage1_0_act1"] < position["stage1_0_conv2"] < position["stage1_0_act2"]
    assert names[0] == "input" and names[-1] == "output"
