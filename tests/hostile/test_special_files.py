"""Special files where a file is read: a FIFO, a device, a folder, a socket, a dangling link, under every name a
reader accepts (config, chip profile, teacher, model file, event file, label file, NIR and netx files, CIFAR
batch). Each must be one error line, never a hang (a FIFO open or read blocks for ever) or an endless read
(``/dev/zero``)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from tests.hostile.harness import event_file, feed

KINDS = ["fifo", "dev-zero", "dev-urandom", "folder", "socket", "dangling-link"]


def make_special(path: Path, kind: str) -> list:
    """Create ``path`` as a special file of ``kind``; returns what must stay alive while it is used."""
    keep = []
    if kind == "fifo":
        os.mkfifo(path)
    elif kind.startswith("dev-"):
        path.symlink_to(f"/dev/{kind[4:]}")
    elif kind == "folder":
        path.mkdir()
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        keep.append(s)
    else:
        path.symlink_to(path.parent / "nowhere")
    return keep


def _readers(good: dict[str, Path], d: Path) -> dict[str, tuple[str, callable]]:
    """reader -> (file name it needs, argv builder for the special file ``p``)."""
    snn, events = good["snn"], d / "ev.npy"
    kd = ["--out-dir", d / "runs", "--name", "kd", "--epochs", "1", "--model.width", "4", "--no-progress"]
    return {
        "config": ("cfg.yaml", lambda p: ["train", "-c", p, "--out-dir", d / "runs", "--name", "x", "--no-progress"]),
        "chip": ("chip.yaml", lambda p: ["report", snn, "--chip", p, "--out", d / "rep", "--no-progress"]),
        "teacher-pt": ("t.pt", lambda p: ["distill", "--teacher", p, *kd]),
        "teacher-onnx": ("t.onnx", lambda p: ["distill", "--teacher", p, *kd]),
        "teacher-safetensors": ("t.safetensors", lambda p: ["distill", "--teacher", p, *kd]),
        "model": ("model.safetensors", lambda p: ["eval", p]),
        "events-npy": ("e.npy", lambda p: ["stream", snn, "--events", p, "--window-ms", "1"]),
        "events-bin": ("e.bin", lambda p: ["stream", snn, "--events", p, "--window-ms", "1"]),
        "events-aedat4": ("e.aedat4", lambda p: ["stream", snn, "--events", p, "--window-ms", "1"]),
        "labels": ("labels.json", lambda p: ["stream", snn, "--events", events, "--window-ms", "1", "--labels", p]),
        "nir": ("m.nir", lambda p: ["inspect", p]),
        "netx": ("m.net", lambda p: ["inspect", p]),
        "netx-simulate": ("m.net", lambda p: ["simulate", "lava", p, "--limit", "2", "--no-progress"]),
        "cifar-batch": ("data_batch_1", lambda p: ["train", "--dataset", "cifar10", "--data-root", p.parent,
                                                   "--out-dir", d / "runs", "--name", "c", "--no-progress"]),
    }


READERS = sorted(_readers({"snn": Path()}, Path()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", READERS)
def test_special_files_are_refused_in_one_line(good, reader, kind):
    with tempfile.TemporaryDirectory(dir="/tmp") as d:  # short: a socket path holds at most 107 bytes
        d = Path(d)
        event_file(d / "ev.npy")
        name, argv = _readers(good, d)[reader]
        path = d / name
        if reader == "cifar-batch":
            path = d / "cifar-10-batches-py" / name
            path.parent.mkdir()
        keep = make_special(path, kind)
        try:
            feed("special-files", argv(path), [d / "runs", d / "rep"], timeout=120)
        finally:
            for k in keep:
                k.close()
