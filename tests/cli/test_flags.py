"""One meaning per flag, switches for booleans, quiet logs, exact resumes, exported files as inputs, fast --help."""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from neurokd.cli import build_parser, main

QUICK = ["--dataset", "digits", "--epochs", "2", "--T", "2", "--model.width", "8", "--train.threads", "1"]


def neurokd(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "neurokd", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture(scope="module")
def snn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flags") / "snn"
    r = neurokd("train", *QUICK, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def _subcommands() -> list[list[str]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    out = []
    for name, p in sub.choices.items():
        nested = [a for a in p._actions if getattr(a, "choices", None) and a.dest == "target"]
        out += [[name, t] for t in nested[0].choices] if nested else [[name]]
    return out


@pytest.mark.parametrize("argv", [[], *_subcommands()])
def test_help_never_imports_torch(argv):
    code = ("import sys\nfrom neurokd.cli import main\ntry:\n    main(sys.argv[1:] + ['--help'])\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('torch', 'numpy', 'matplotlib', 'h5py') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage:" in r.stdout


def test_out_is_the_run_folder(snn_run, tmp_path):
    assert (snn_run / "model.safetensors").is_file() and json.loads((snn_run / "summary.json").read_text())["name"] \
        == "snn"
    r = neurokd("train", *QUICK, "--out", tmp_path / "a", "--name", "b")
    assert r.returncode == 2 and "--out DIR is the run folder itself" in r.stderr and not (tmp_path / "a").exists()
    r = neurokd("train", *QUICK, "--out-dir", tmp_path / "parent", "--name", "b")
    assert r.returncode == 0 and (tmp_path / "parent" / "b" / "summary.json").is_file()


def test_boolean_keys_are_switches(tmp_path):
    for flags, expected in [(["--train.channels_last"], True), (["--no-train.channels_last"], False),
                            (["--train.channels_last", "false"], False), (["--train.channels_last", "true"], True)]:
        args = build_parser().parse_args(["train", *flags])
        from neurokd.cli.common import config_from_args

        cfg, changes = config_from_args(args)
        assert cfg.train.channels_last is expected and "train.channels_last" in changes
    assert main(["train", "--no-train.channels_last", "--train.channels_last", "maybe"]) == 2  # still validated


def test_json_is_a_switch_or_a_file(snn_run, tmp_path, capsys):
    assert main(["eval", str(snn_run), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed[0]["arch"] == "cnn" and printed[0]["n"] == 360
    assert main(["eval", str(snn_run), "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "| run " in out and json.loads((tmp_path / "e.json").read_text()) == printed  # table + file


def test_logs_have_one_line_per_epoch_and_no_bar_frames(tmp_path):
    r = neurokd("train", *QUICK, "--out", tmp_path / "quiet", "--no-progress")  # stderr is a pipe: no bars anyway
    lines = r.stderr.splitlines()
    assert r.returncode == 0 and [x.split("]")[1].split()[:2] for x in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "\r" not in r.stderr and "it/s" not in r.stderr


def _on_a_terminal(argv, env) -> str:
    """stderr + stdout of ``neurokd argv`` run on a pseudo-terminal (where bars are drawn unless disabled)."""
    pid, fd = pty.fork()
    if pid == 0:  # a terminal of 100 columns (a new pty has 0, where tqdm draws nothing)
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        os.execvpe(sys.executable, [sys.executable, "-m", "neurokd", *map(str, argv)], {**os.environ, **env})
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_bars_only_on_a_terminal_and_never_under_tqdm_disable(tmp_path):
    shown = _on_a_terminal(["train", *QUICK, "--out", tmp_path / "tty"], {"TQDM_DISABLE": ""})
    hidden = _on_a_terminal(["train", *QUICK, "--out", tmp_path / "tty2"], {"TQDM_DISABLE": "1"})
    assert "it/s" in shown or "s/it" in shown
    assert "it/s" not in hidden and "s/it" not in hidden and hidden.count("epoch ") == 2


def test_csv_and_tensorboard_logs(tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "logged"
    r = neurokd("train", *QUICK, "--out", run, "--train.log_to", "csv,tensorboard")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    jsonl = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [int(r["epoch"]) for r in rows] == [1, 2] and float(rows[1]["val_acc"]) == jsonl[1]["val_acc"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]


def test_resume_refuses_a_changed_computation_and_extends_epochs(snn_run, tmp_path):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(snn_run, run)
    r = neurokd("train", "--out", run, "--resume", "--lr", "0.5")
    assert r.returncode == 2 and "config key 'optim.lr' is 0.001 in run" in r.stderr and "another --name" in r.stderr
    r = neurokd("train", "--out", run, "--resume", "--epochs", "1")
    assert r.returncode == 2 and "has trained 2 epochs already" in r.stderr
    r = neurokd("train", "--out", run, "--resume", "--epochs", "3", "--train.threads", "1")
    assert r.returncode == 0, r.stderr
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in records] == [1, 2, 3]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3
    assert "epochs: 3" in (run / "config.yaml").read_text()


def test_extended_resume_follows_the_longer_schedule(tmp_path):
    """A 2-epoch run resumed to 4 epochs continues under the 4-epoch cosine schedule: after epoch 3 the LR is
    ``lr * (1 + cos(3 pi / 4)) / 2`` (the 2-epoch schedule had reached 0 and would stay there)."""
    assert neurokd("train", *QUICK, "--out", tmp_path / "short").returncode == 0
    assert neurokd("train", "--out", tmp_path / "short", "--resume", "--epochs", "4").returncode == 0
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "short" / "metrics.jsonl").read_text().splitlines()]
    assert lrs[1] == pytest.approx(0.0, abs=1e-12)
    assert lrs[2] == pytest.approx(0.001 * (1 + math.cos(3 * math.pi / 4)) / 2, rel=1e-9)
    assert lrs[3] == pytest.approx(0.0, abs=1e-12)


def test_exported_files_are_inputs_of_eval_and_simulate(snn_run, tmp_path):
    nir_file = tmp_path / "m.nir"
    assert neurokd("export", "nir", snn_run, "-o", nir_file, "--verify", "8").returncode == 0
    run_eval = json.loads(neurokd("eval", snn_run, "--json").stdout)[0]
    nir_eval = json.loads(neurokd("eval", nir_file, "--json").stdout)[0]
    assert nir_eval["acc"] == run_eval["acc"] and nir_eval["dataset"] == "digits" and nir_eval["T"] == 2
    sim = json.loads(neurokd("simulate", "nir", nir_file, "--json").stdout)
    assert sim["acc"] == run_eval["acc"] and sim["n"] == 360 and len(sim["nodes"]) == 3
    net_file = tmp_path / "m.net"
    assert neurokd("export", "lava", snn_run, "-o", net_file, "--verify", "0").returncode == 0
    net_eval = json.loads(neurokd("eval", net_file, "--json").stdout)[0]
    lava_sim = json.loads(neurokd("simulate", "lava", net_file, "--json").stdout)
    assert net_eval["acc"] == lava_sim["acc"] and net_eval["loss"] is None
    r = neurokd("eval", Path(tmp_path / "nothing.nir"))
    assert r.returncode == 2 and "nothing.nir" in r.stderr
    for source, out in ((snn_run, tmp_path / "rep_run"), (nir_file, tmp_path / "rep_nir")):
        assert neurokd("report", source, "--chip", "loihi", "--out", out, "--no-progress").returncode == 0
    run_rep, nir_rep = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("rep_run", "rep_nir"))
    # the imported graph does the same work: the same counts and energies, spike for spike
    assert nir_rep["summary"]["synops_per_sample"] == run_rep["summary"]["synops_per_sample"] > 0
    assert nir_rep["summary"]["energy_uj"] == run_rep["summary"]["energy_uj"]
    r = neurokd("report", net_file, "--no-progress")
    assert r.returncode == 2 and "give its run folder or its .nir export" in r.stderr
