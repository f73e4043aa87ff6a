"""Security: no user file is ever unpickled (a malicious ``.pt`` runs no code anywhere a ``.pt`` or model file
is accepted), and run names cannot point the run folder outside ``out_dir``."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.hostile.harness import feed

ROOT = Path(__file__).resolve().parents[2]


class Evil:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil(tmp_path) -> dict[str, Path]:
    marker = tmp_path / "PWNED"
    files = {}
    for name in ("teacher.pt", "teacher.pth", "model.safetensors"):
        files[name] = tmp_path / "evil" / name
        files[name].parent.mkdir(exist_ok=True)
        torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Evil(marker)}, files[name])
    files["raw.pt"] = tmp_path / "evil" / "raw.pt"
    files["raw.pt"].write_bytes(pickle.dumps(Evil(marker)))  # a legacy (non-zip) pickle
    files["events.npy"] = tmp_path / "evil" / "events.npy"
    np.save(files["events.npy"], np.array([Evil(marker)], dtype=object), allow_pickle=True)
    files["marker"] = marker
    # the payload is live: an unsafe load would run it
    torch.load(files["teacher.pt"], weights_only=False)
    assert marker.exists()
    marker.unlink()
    return files


def _out(tmp_path: Path) -> list[Path]:
    return [tmp_path / "runs", tmp_path / "o"]


def test_malicious_pickles_run_no_code(evil, good, tmp_path):
    marker = evil["marker"]
    d = tmp_path / "o"
    d.mkdir()
    kd = ["--out-dir", tmp_path / "runs", "--name", "kd", "--epochs", "1", "--model.width", "4", "--no-progress"]
    cases = []
    for name in ("teacher.pt", "teacher.pth", "raw.pt", "model.safetensors"):
        f = evil[name]
        cases += [
            ["distill", "--teacher", f, *kd],
            ["eval", f],
            ["export", "nir", f, "-o", d / "m.nir", "--verify", "0"],
            ["export", "lava", f, "-o", d / "m.net", "--verify", "0", "--calibration", "4", "--no-progress"],
            ["report", f, "--chip", "loihi", "--out", d / "rep", "--no-progress"],
            ["stream", f, "--events", d / "x.npy", "--window-ms", "1"],
            ["robustness", f, "--out", d / "rob", "--no-progress"],
            ["inspect", f],
        ]
    # a run folder (as model and as teacher) whose model file is a pickle, and a checkpoint that is one
    run = tmp_path / "runs" / "snn"
    shutil.copytree(good["snn"], run)
    shutil.copy(evil["model.safetensors"], run / "model.safetensors")
    for ck in (run / "checkpoints").iterdir():
        shutil.copy(evil["raw.pt"], ck)
    cases += [["eval", run], ["distill", "--teacher", run, *kd],
              ["train", "--out-dir", tmp_path / "runs", "--name", "snn", "--resume", "--no-progress"]]
    cases.append(["stream", good["snn"], "--events", evil["events.npy"], "--window-ms", "1"])
    # CIFAR batches are pickles by format: read with an unpickler that rebuilds plain data only
    cifar = tmp_path / "cifar" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)
    for f in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
              "batches.meta"]:
        (cifar / f).write_bytes(pickle.dumps(Evil(marker)))
    cases.append(["train", "--dataset", "cifar10", "--data-root", tmp_path / "cifar", "--out-dir", tmp_path / "runs",
                  "--name", "c", "--no-progress"])
    for argv in cases:
        _code, err = feed("security", argv, [d, tmp_path / "runs" / "kd", tmp_path / "runs" / "c"])
        assert not marker.exists(), f"code ran: neurokd {argv}"
    assert len(cases) == 37


def test_no_unsafe_deserialization_in_the_code():
    """Every torch.load is weights-only; no pickle/np.load(allow_pickle=True)/yaml.load on user files."""
    bad = []
    for pkg in ("neurokd", "exporters", "hardware"):
        for path in (ROOT / pkg).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if "torch.load(" in code and "weights_only=True" not in code:
                    bad.append(f"{path}:{i}: {line.strip()}")
                if re.search(r"allow_pickle\s*=\s*True|yaml\.load\(|yaml\.unsafe_load|pickle\.loads?\(|"
                             r"marshal\.loads?\(|(?<![.\w])eval\(|shelve\.open", code):
                    bad.append(f"{path}:{i}: {line.strip()}")
    assert not bad, "unsafe deserialization:\n" + "\n".join(bad)


@pytest.mark.parametrize("command", ["train", "teacher", "distill"])
@pytest.mark.parametrize("name", ["../../escaped", "../escaped", "/tmp/neurokd-abs-escape", "a/b", "..", ".", "",
                                  "a\\b", "x\x00y"])
def test_run_names_cannot_escape_out_dir(command, name, tmp_path):
    out = tmp_path / "deep" / "runs"
    out.mkdir(parents=True)
    argv = [command, "--out-dir", out, "--name", name, "--epochs", "1", "--no-progress"]
    if command == "distill":
        argv += ["--teacher", tmp_path / "t"]
    _code, err = feed("security", argv, [tmp_path, Path("/tmp/neurokd-abs-escape")])
    assert "name" in err


def test_symlinked_run_folders_are_refused(good, tmp_path):
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "link").symlink_to(outside, target_is_directory=True)
    for extra in (["--overwrite"], ["--resume"], []):
        _code, err = feed("security", ["train", "--out-dir", runs, "--name", "link", "--epochs", "1", "--no-progress",
                                       *extra], [runs, outside])
        assert "symbolic link" in err
    assert (outside / "keep.txt").read_text() == "mine" and len(list(outside.iterdir())) == 1


def test_resume_ignores_locations_recorded_in_the_run_folder(good, tmp_path):
    """A crafted config.yaml cannot redirect a resumed run's writes."""
    run = tmp_path / "runs" / "snn"
    shutil.copytree(good["snn"], run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["out_dir"] = str(tmp_path / "elsewhere")
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    # the run is complete: a resume re-evaluates and rewrites its final files, all inside runs/snn
    feed("security", ["train", "--out-dir", tmp_path / "runs", "--name", "snn", "--resume", "--no-progress"],
         [tmp_path / "elsewhere"], may_succeed=True)
    assert not (tmp_path / "elsewhere").exists()
    cfg["name"] = "../../escaped"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    feed("security", ["train", "--out-dir", tmp_path / "runs", "--name", "snn", "--resume", "--no-progress"],
         [tmp_path])
