"""Tiny training runs through the real CLI, and the checks a run-folder situation ends with."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
from pathlib import Path

from neurokd import load_model
from neurokd.cli import main

EPOCHS = 3
# a run that takes about a second, the same in this process and in a subprocess (one thread)
TINY = ["--model.width", "4", "--model.T", "2", "--train.threads", "1", "--data.batch_size", "128", "--seed", "3",
        "--no-progress"]


def train_argv(out: Path, name: str, *flags: str, epochs: int = EPOCHS) -> list[str]:
    return ["train", "--out-dir", str(out), "--name", name, "--epochs", str(epochs), *TINY, *flags]


def cli(argv: list) -> tuple[int, list[str]]:
    """Run ``neurokd argv`` in this process: ``(exit code, stderr lines)`` without the epoch lines; never a
    traceback."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
    text = err.getvalue()
    assert "Traceback" not in text, text
    return code, [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("[")]


def refused(argv: list, *needles: str) -> str:
    """``neurokd argv`` must end with exit 2 and one error line holding every needle; returns that line."""
    code, lines = cli(argv)
    lines = [ln for ln in lines if not ln.endswith("starting it afresh")]
    assert code == 2 and len(lines) == 1 and ": error: " in lines[0], (code, lines)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert len(lines[0]) < 600, lines[0]
    return lines[0]


def reference_run(out: Path) -> tuple[Path, dict]:
    """An uninterrupted run ``out/ref`` (checkpoints of epochs 2 and 3 kept) and its :func:`outcome`."""
    code, lines = cli(train_argv(out, "ref"))
    assert code == 0, lines
    return out / "ref", outcome(out / "ref")


def outcome(run_dir: Path) -> dict:
    """What a finished run computed, comparable exactly between runs: final test accuracy and loss, the epoch
    records (less their timings) and a digest of the final weights."""
    summary = json.loads((run_dir / "summary.json").read_text())
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    digest = hashlib.sha256()
    for k, v in sorted(load_model(run_dir / "model.safetensors").state_dict().items()):
        digest.update(k.encode() + v.numpy().tobytes())
    return {"test_acc": summary["test_acc"], "test_loss": summary["test_loss"],
            "records": [{k: v for k, v in r.items() if k != "epoch_s"} for r in records], "weights": digest.hexdigest()}


def hidden_files(run_dir: Path) -> list[str]:
    """Temporary files and lock files left anywhere in ``run_dir``."""
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob(".*"))


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: file contents, link targets, the kinds of the others."""
    out: dict[str, bytes | str] = {}
    if not folder.exists():
        return out
    for root, dirs, files in os.walk(folder):
        for n in dirs + files:
            p = Path(root, n)
            key = str(p.relative_to(folder))
            if p.is_symlink():
                out[key] = "-> " + os.readlink(p)
            elif p.is_file():
                out[key] = p.read_bytes()
            else:  # a folder, FIFO, device or socket: its kind (reading a FIFO would wait for a writer)
                out[key] = stat.filemode(p.lstat().st_mode)[0]
    return out
