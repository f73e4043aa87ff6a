"""The .net file format: round trip, netx's layout conventions, and malformed files -> one-line errors."""

import h5py
import numpy as np
import pytest

from neurokd.exporters.lava.netx import NetxFormatError
from neurokd.exporters.lava.netx_reader import read_netx
from neurokd.exporters.lava.netx_writer import write_netx

from .conftest import conv_network


def test_round_trip_keeps_layers_and_metadata(tmp_path):
    net = conv_network()
    net.meta.update({"T": 4, "report": {"layers": [1, 2]}, "encoder": "direct"})
    back = read_netx(write_netx(net, tmp_path / "a.net"))
    assert [la.kind for la in back.layers] == ["input", "conv", "conv", "flatten", "dense", "dense"]
    for a, b in zip(net.synaptic_layers, back.synaptic_layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
        assert a.neuron == b.neuron and tuple(a.shape) == tuple(b.shape)
    assert back.meta["T"] == 4 and back.meta["report"] == {"layers": [1, 2]} and back.meta["encoder"] == "direct"


def test_layout_is_what_netx_reads(tmp_path):
    path = write_netx(conv_network(), tmp_path / "a.net")
    with h5py.File(path) as f:
        g = f["layer/1"]
        assert g["type"].dtype == np.dtype("S10") and g["type"][0] == b"conv"
        assert list(g["shape"][()]) == [4, 6, 5]  # C, H, W
        assert g["weight"].dtype.kind == "i" and g["weight"].shape == (4, 2, 3, 3)
        assert g["neuron/type"][()] == b"CUBA"
        assert {"iDecay", "vDecay", "vThMant", "refDelay", "gradedSpike"} <= set(g["neuron"])
        assert f["layer/3/type"][0] == b"flatten"
    assert [p.name for p in tmp_path.iterdir()] == ["a.net"]  # atomic write leaves no temp file


def _write(path, build):
    with h5py.File(path, "w") as f:
        build(f)
    return path


def _good(f, **changes):
    """A valid two-layer dense file, with datasets replaced/removed per ``changes`` (value None = remove)."""
    layers = f.create_group("layer")
    spec = {
        "0/type": np.array([b"input"], "S10"), "0/shape": np.array([3]),
        "1/type": np.array([b"dense"], "S10"), "1/shape": np.array([2]), "1/weight": np.ones((2, 3)),
        "1/neuron/type": "CUBA", "1/neuron/iDecay": 4096, "1/neuron/vDecay": 0, "1/neuron/vThMant": 10,
    }
    spec.update(changes)
    for k, v in spec.items():
        if v is not None:
            layers.create_dataset(k, data=v)


@pytest.mark.parametrize("changes, needle", [
    ({"1/type": np.array([b"pool"], "S10")}, "layer/1: layer type 'pool' is not supported"),
    ({"1/type": np.array([b"resblock"], "S10")}, "unknown layer type 'resblock'"),
    ({"1/weight": np.ones((2, 4))}, "dense 'weight' has 4 inputs, the previous layer gives 3"),
    ({"1/weight": np.full((2, 3), 0.5)}, "non-integer values"),
    ({"1/weight": np.full((2, 3), 300.0)}, "outside Loihi's synapse range"),
    ({"1/weight": None}, "layer/1: missing 'weight'"),
    ({"1/neuron/vThMant": None}, "layer/1/neuron: missing 'vThMant'"),
    ({"1/neuron/iDecay": 5000}, "iDecay must be an integer in [0, 4096]"),
    ({"1/neuron/type": "SDNN"}, "neuron type 'SDNN' is not supported"),
    ({"1/bias": np.ones(3)}, "'bias' must have 2 values"),
    ({"1/bias": np.full(2, 9000)}, "13-bit bias"),
    ({"1/weight": np.full((2, 3), np.nan)}, "NaN"),
])
def test_malformed_files_give_one_line_errors(tmp_path, changes, needle):
    path = _write(tmp_path / "bad.net", lambda f: _good(f, **changes))
    with pytest.raises(NetxFormatError) as e:
        read_netx(path)
    msg = str(e.value)
    assert needle in msg and "bad.net" in msg and "\n" not in msg


def test_the_valid_reference_file_reads(tmp_path):
    net = read_netx(_write(tmp_path / "ok.net", _good))
    assert [la.kind for la in net.layers] == ["input", "dense"]


@pytest.mark.parametrize("content, needle", [
    (b"not an hdf5 file", "not an HDF5 file"),
    (None, "not found"),
])
def test_unreadable_files(tmp_path, content, needle):
    path = tmp_path / "x.net"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(NetxFormatError, match=needle):
        read_netx(path)


def test_structure_errors(tmp_path):
    def no_layers(f):
        f.create_group("other")

    with pytest.raises(NetxFormatError, match="no 'layer' group"):
        read_netx(_write(tmp_path / "a.net", no_layers))

    def gap(f):
        _good(f)
        f["layer"].move("1", "2")

    with pytest.raises(NetxFormatError, match="layers must be named 0..1"):
        read_netx(_write(tmp_path / "b.net", gap))

    def conv_without_flatten(f):
        layers = f.create_group("layer")
        layers.create_dataset("0/type", data=np.array([b"input"], "S10"))
        layers.create_dataset("0/shape", data=np.array([1, 4, 4]))
        layers.create_dataset("1/type", data=np.array([b"dense"], "S10"))
        layers.create_dataset("1/shape", data=np.array([2]))
        layers.create_dataset("1/weight", data=np.ones((2, 16)))

    with pytest.raises(NetxFormatError, match="needs a 'flatten' layer"):
        read_netx(_write(tmp_path / "c.net", conv_without_flatten))

    path = write_netx(conv_network(), tmp_path / "d.net")
    with h5py.File(path, "r+") as f:
        del f["layer/2/shape"]
        f["layer/2"].create_dataset("shape", data=np.array([3, 4, 4]))
    with pytest.raises(NetxFormatError, match=r"'shape' \[3, 4, 4\] does not match the convolution output \[3, 3, 3\]"):
        read_netx(path)


def test_conv_first_file_needs_an_input_shape(tmp_path):
    net = conv_network()
    net.layers = net.layers[1:]
    path = write_netx(net, tmp_path / "a.net")
    with pytest.raises(NetxFormatError, match="pass input_shape"):
        read_netx(path)
    assert read_netx(path, input_shape=(2, 6, 5)).input_shape == (2, 6, 5)
