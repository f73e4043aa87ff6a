"""Reading/writing ``.nir`` files: bad files give one-line errors naming the file; writes are atomic."""

import h5py
import nir
import numpy as np
import pytest

from neurokd.errors import UserError
from neurokd.exporters.nir import from_nir, read, save, to_nir
from tests.exporters.nir.helpers import make_snn


@pytest.fixture()
def good_file(tmp_path):
    return save(to_nir(make_snn("cnn", [1, 8, 8], 2)), tmp_path / "good.nir")


def _error(path) -> str:
    with pytest.raises(UserError) as e:
        from_nir(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_and_non_hdf5(tmp_path):
    assert "not found" in _error(tmp_path / "nope.nir")
    junk = tmp_path / "junk.nir"
    junk.write_text("this is not HDF5")
    assert "not an HDF5 file" in _error(junk)


def test_truncated_file(good_file, tmp_path):
    data = good_file.read_bytes()
    for cut in (len(data) // 2, 600):
        bad = tmp_path / f"cut{cut}.nir"
        bad.write_bytes(data[:cut])
        msg = _error(bad)
        assert "truncated or corrupt" in msg or "not an HDF5 file" in msg


def test_hdf5_that_is_not_nir(tmp_path):
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f["layer/0/weight"] = np.ones((2, 2))
    assert "not a NIR graph" in _error(path)


def test_unknown_node_type_in_file(good_file):
    with h5py.File(good_file, "r+") as f:
        del f["node/nodes/stage1_2/type"]
        f.create_dataset("node/nodes/stage1_2/type", data="Spooky", dtype=h5py.string_dtype())
    msg = _error(good_file)
    assert "stage1_2" in msg and "Spooky" in msg


def test_missing_field_in_file(good_file):
    with h5py.File(good_file, "r+") as f:
        del f["node/nodes/stage1_0/weight"]
    assert "malformed NIR graph" in _error(good_file)


def _write(path, *nodes, edges=None):
    names = ["input", *[f"n{i}" for i in range(len(nodes) - 2)], "output"]
    g = nir.NIRGraph(nodes=dict(zip(names, nodes)), edges=edges or list(zip(names, names[1:])), type_check=False)
    nir.write(path, g)
    return path


@pytest.mark.parametrize("node,needle", [
    (nir.Delay(delay=np.ones(3)), "(Delay) cannot be imported"),
    (nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                 v_threshold=np.ones(3)), "(CubaLIF) cannot be imported"),
    (nir.LI(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3)), "(LI) cannot be imported"),
    (nir.LIF(tau=np.full(3, 1e-3), r=np.full(3, 10.0), v_leak=np.ones(3), v_threshold=np.ones(3)), "v_leak"),
    (nir.LIF(tau=np.full(3, 1e-3), r=np.full(3, 10.0), v_leak=np.zeros(3), v_threshold=np.ones(3),
             v_reset=np.full(3, -1.0)), "v_reset"),
    (nir.LIF(tau=np.array([1e-3, 2e-3, 1e-3]), r=np.full(3, 10.0), v_leak=np.zeros(3), v_threshold=np.ones(3)),
     "decay (tau) that differs between neurons"),
    (nir.LIF(tau=np.full(3, 1e-5), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)), "tau < dt"),
])
def test_unsupported_nodes_name_node_and_type(tmp_path, node, needle):
    path = _write(tmp_path / "g.nir", nir.Input(np.array([3])), node, nir.Output(np.array([3])))
    msg = _error(path)
    assert "node 'n0'" in msg and needle in msg, msg


def test_cycle_and_nested_graph_are_rejected(tmp_path):
    lif = nir.LIF(tau=np.full(3, 1e-3), r=np.full(3, 10.0), v_leak=np.zeros(3), v_threshold=np.ones(3))
    w = nir.Linear(weight=np.eye(3))
    path = _write(tmp_path / "rec.nir", nir.Input(np.array([3])), lif, w, nir.Output(np.array([3])),
                  edges=[("input", "n0"), ("n0", "n1"), ("n1", "n0"), ("n0", "output")])
    assert "cycle" in _error(path)
    sub = nir.NIRGraph(nodes={"i": nir.Input(np.array([3])), "o": nir.Output(np.array([3]))}, edges=[("i", "o")])
    path = _write(tmp_path / "nested.nir", nir.Input(np.array([3])), sub, nir.Output(np.array([3])))
    assert "(NIRGraph) cannot be imported" in _error(path)


def test_shape_mismatch_names_the_node(tmp_path):
    path = _write(tmp_path / "bad.nir", nir.Input(np.array([4])), nir.Affine(np.ones((2, 3)), np.zeros(2)),
                  nir.Output(np.array([2])))
    msg = _error(path)
    assert "node 'n0'" in msg and "Linear" in msg


def test_save_is_atomic(tmp_path, good_file):
    before = good_file.read_bytes()
    g = to_nir(make_snn("cnn", [1, 8, 8], 2))
    g.metadata["bad"] = None  # h5py cannot store None: nir.write fails half-way
    with pytest.raises(TypeError):
        save(g, good_file)
    assert good_file.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.nir"]  # no temp file left
    with pytest.raises(UserError, match="is a folder"):
        save(g, tmp_path)


def test_read_returns_graph_with_types(good_file):
    g = read(good_file)
    assert isinstance(g, nir.NIRGraph) and "stage1_2" in g.nodes
