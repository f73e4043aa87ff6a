"""Event file formats: tiny files written in each real on-disk format, read back through tonic's readers."""

import numpy as np
import pytest

from neurokd.data.events import make_events, read_event_file, write_events_npy, write_nmnist_bin
from neurokd.data.events.formats import read_aedat4, read_gesture_npy, read_nmnist_bin
from neurokd.errors import DatasetError
from tests.data.events.aedat4 import write_aedat4


def _events(n=500, w=34, h=34, t_max=300_000, seed=0):
    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(0, t_max, n)),
                       rng.integers(0, 2, n))


def test_nmnist_bin_roundtrip_bytes_and_tonic_reader(tmp_path):
    ev = _events()
    path = tmp_path / "00001.bin"
    write_nmnist_bin(path, ev)
    raw = path.read_bytes()
    assert len(raw) == 5 * len(ev)
    # the first record, byte by byte: x, y, p<<7 | t[22:16], t[15:8], t[7:0]
    x, y, t, p = (int(ev[0][f]) for f in ("x", "y", "t", "p"))
    assert list(raw[:5]) == [x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF]
    np.testing.assert_array_equal(read_nmnist_bin(path), ev)
    from tonic.io import read_mnist_file

    tonic_ev = read_mnist_file(str(path), dtype=np.dtype([("x", int), ("y", int), ("t", int), ("p", int)]))
    for f in "xytp":
        np.testing.assert_array_equal(tonic_ev[f], ev[f])


def test_nmnist_overflow_records_are_skipped_and_shift_time(tmp_path):
    path = tmp_path / "o.bin"
    records = bytes([3, 4, 0x80, 0, 10]) + bytes([0, 240, 0, 0, 0]) + bytes([5, 6, 0, 0, 20])
    path.write_bytes(records)
    ev = read_nmnist_bin(path)
    assert ev["x"].tolist() == [3, 5] and ev["p"].tolist() == [1, 0]
    assert ev["t"].tolist() == [10, 20 + 8192]  # tonic's (and Orchard's) overflow increment


def test_nmnist_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.bin"
    write_nmnist_bin(path, _events(10))
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(DatasetError, match=r"t.bin: 48 bytes is not a whole number of 5-byte N-MNIST events"):
        read_nmnist_bin(path)


def test_nmnist_writer_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(DatasetError, match="23-bit"):
        write_nmnist_bin(tmp_path / "a.bin", make_events([0], [0], [1 << 23], [1]))
    with pytest.raises(DatasetError, match="0..239"):
        write_nmnist_bin(tmp_path / "b.bin", make_events([240], [0], [0], [1]))
    assert not list(tmp_path.iterdir())  # nothing half-written


def _gesture_array(n, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                     np.sort(rng.integers(0, 6000, n))], axis=1).astype(np.float64)


def test_gesture_npy_reads_as_tonics_dvsgesture_class(tmp_path):
    # tonic's own class works offline once its archive name exists and >= 100 samples are extracted
    base = tmp_path / "DVSGesture"
    for u in range(10):
        folder = base / "ibmGestureTrain" / f"user{u + 1:02d}_fluorescent"
        folder.mkdir(parents=True)
        for label in range(10):
            np.save(folder / f"{label}.npy", _gesture_array(20 + label, u * 10 + label))
    (base / "ibmGestureTrain.tar.gz").write_bytes(b"")
    from tonic.datasets import DVSGesture

    ds = DVSGesture(str(tmp_path), train=True)
    assert len(ds) == 100
    for i in (0, 37, 99):
        tonic_ev, label = ds[i]
        ours = read_gesture_npy(ds.data[i])
        assert int(ds.data[i].rsplit("/", 1)[1][:-4]) == label
        for f in "xyt":
            np.testing.assert_array_equal(ours[f], tonic_ev[f])
        np.testing.assert_array_equal(ours["p"], tonic_ev["p"].astype(np.int8))


def test_gesture_npy_wrong_shape(tmp_path):
    np.save(tmp_path / "3.npy", np.zeros((5, 3)))
    with pytest.raises(DatasetError, match=r"3.npy: expected an N x 4 array"):
        read_gesture_npy(tmp_path / "3.npy")


def test_aedat4_roundtrip_through_tonic_and_aedat(tmp_path):
    ev = _events(230, 128, 128, 1_000_000, seed=3)
    ev["t"] += 1_600_000_000_000_000  # absolute microsecond clock, as DV records
    write_aedat4(tmp_path / "cat_1.aedat4", ev)
    np.testing.assert_array_equal(read_aedat4(tmp_path / "cat_1.aedat4"), ev)


def test_aedat4_corrupt_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.aedat4"
    bad.write_bytes(b"#!AER-DAT3.1\r\nnot an aedat4 file")
    with pytest.raises(DatasetError, match=r"x.aedat4: not a readable AEDAT 4 file"):
        read_aedat4(bad)


def test_npy_stream_file_roundtrip_and_truncation(tmp_path):
    ev = _events(1000)
    path = tmp_path / "s.npy"
    write_events_npy(path, ev)
    np.testing.assert_array_equal(read_event_file(path), ev)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"s.npy: truncated: \d+ bytes, but its header declares 1000 events"):
        read_event_file(path)


def test_unknown_and_missing_event_files(tmp_path):
    with pytest.raises(DatasetError, match="unknown format '.txt'"):
        read_event_file(tmp_path / "a.txt")
    with pytest.raises(DatasetError, match="not found"):
        read_event_file(tmp_path / "a.npy")


@pytest.mark.parametrize("field,dtype,value", [("x", "<i4", 65539), ("y", "<u8", 2**63 + 2), ("p", "<i2", 257),
                                               ("x", "<f8", 3.5), ("t", "<f8", float("nan"))])
def test_values_that_would_wrap_or_truncate_on_the_cast(tmp_path, field, dtype, value):
    fields = {"x": "<u2", "y": "<u2", "t": "<i8", "p": "u1", field: dtype}
    ev = np.zeros(5, np.dtype([(k, fields[k]) for k in "xytp"]))
    ev[field][3] = value
    np.save(tmp_path / "w.npy", ev)
    with pytest.raises(DatasetError, match=rf"w.npy: event 3 has {field} = .* which does not fit"):
        read_event_file(tmp_path / "w.npy")


def test_npy_events_read_in_slices_detect_a_file_cut_meanwhile(tmp_path):
    from neurokd.data.events.formats import NpyEvents

    ev = _events(1000)
    path = tmp_path / "s.npy"
    write_events_npy(path, ev)
    events = NpyEvents(path)
    np.testing.assert_array_equal(events[0:400], ev[:400])
    with open(path, "r+b") as fh:  # the recording is cut while it is being read
        fh.truncate(path.stat().st_size - 13 * 500)
    np.testing.assert_array_equal(events[400:500], ev[400:500])  # still there
    with pytest.raises(DatasetError, match=r"s.npy: truncated: .* declares 1000 events .* event 500 is missing"):
        events[400:600]
    events.close()
