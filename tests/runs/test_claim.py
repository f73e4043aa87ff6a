"""What each state of a run folder leads to: every state a kill can leave (built here file by file) is either
resumed to exactly the uninterrupted result, or restartable, with one line saying how; bad input changes nothing;
a failed new run leaves nothing behind.

The states come from what a kill between two writes leaves (tests/hostile/test_run_folders.py kills real runs at
those points); here each is built directly, so every branch runs fast and in this process.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from neurokd.errors import UserError
from neurokd.runs.lock import LOCK_NAME
from tests.runs.helpers import cli, hidden_files, outcome, reference_run, refused, snapshot, train_argv


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    return reference_run(tmp_path_factory.mktemp("ref"))


def _half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _records(run: Path, keep: int, half_line: bool = True) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:keep]) + (lines[keep][:25] if half_line else ""))


def _only(run: Path, *names: str) -> None:
    for p in run.iterdir():
        if p.name not in names:
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def _empty(run):
    _only(run)


def _lock_only(run):
    _only(run)
    (run / LOCK_NAME).write_text("999999 elsewhere\n")  # the lock file of a killed process


def _config_cut(run):  # killed while writing the first config.yaml
    text = (run / "config.yaml").read_bytes()
    _lock_only(run)
    (run / ".config.yaml.x1y2.tmp").write_bytes(text[: len(text) // 2])


def _config_only(run):  # killed between config.yaml and model.json, or before the first epoch ended
    _only(run, "config.yaml", "model.json")


def _before_first_checkpoint(run):  # epoch 1 recorded, its checkpoint cut short
    _only(run, "config.yaml", "model.json", "metrics.jsonl", "checkpoints")
    _records(run, 1)
    ckpts = run / "checkpoints"
    for p in ckpts.iterdir():
        p.rename(ckpts / f".{p.name}.x3y4.tmp") if p.name.endswith("0002.safetensors") else p.unlink()
    _half(next(ckpts.iterdir()))


def _after_epoch_2(run):  # epoch 3's record half written, its checkpoint a temporary file
    _only(run, "config.yaml", "model.json", "metrics.jsonl", "checkpoints")
    _records(run, 2)
    (run / "checkpoints" / "epoch_0003.safetensors").rename(run / "checkpoints" / ".epoch_0003.safetensors.a.tmp")


def _all_epochs(run):  # killed writing the model file
    (run / "model.safetensors").rename(run / ".model.safetensors.b.tmp")
    _only(run, "config.yaml", "model.json", "metrics.jsonl", "checkpoints", ".model.safetensors.b.tmp")


def _no_summary(run):  # killed writing summary.json
    (run / "summary.json").rename(run / ".summary.json.c.tmp")


def _finished(run):
    pass


def _foreign_file(run):  # a file neurokd never writes: not a folder to take over silently
    _config_only(run)
    (run / "notes.txt").write_text("mine")


def _not_a_run(run):
    _only(run)
    (run / "notes.txt").write_text("mine")


RESUMES, RESTARTS = "resumes", "restarts"
# state: (how it is built, what a new run does, what --resume does): RESUMES/RESTARTS end with the reference's
# exact result; a string is the refusal's hint
STATES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "empty": (_empty, RESTARTS, "without --resume"),
    "lock-only": (_lock_only, RESTARTS, "without --resume"),
    "config-cut": (_config_cut, RESTARTS, "without --resume"),
    "config-only": (_config_only, RESTARTS, RESUMES),
    "before-first-checkpoint": (_before_first_checkpoint, RESTARTS, RESUMES),
    "after-epoch-2": (_after_epoch_2, "--resume", RESUMES),
    "all-epochs": (_all_epochs, "--resume", RESUMES),
    "no-summary": (_no_summary, "--resume", RESUMES),
    "finished": (_finished, "--resume", RESUMES),
    "foreign-file": (_foreign_file, "--overwrite", RESUMES),
    "not-a-run": (_not_a_run, "--overwrite", "not a neurokd run folder"),
}


@pytest.mark.parametrize("how", ["new", "resume"])
@pytest.mark.parametrize("state", list(STATES))
def test_every_state_resumes_restarts_or_says_how(reference, tmp_path, state, how):
    ref_dir, expected = reference
    build, new, resume = STATES[state]
    run = tmp_path / "ref"  # the same name: a copied run folder resumes where it now is
    shutil.copytree(ref_dir, run)
    build(run)
    want = new if how == "new" else resume
    argv = train_argv(tmp_path, "ref", *(["--resume"] if how == "resume" else []))
    if want in (RESUMES, RESTARTS):
        code, lines = cli(argv)
        assert code == 0, lines
        assert outcome(run) == expected
        assert hidden_files(run) == []  # temporary files of cut writes and the lock file are gone
        taken_over = any(ln.endswith("starting it afresh") for ln in lines)
        assert taken_over == (want == RESTARTS and state != "empty" and state != "lock-only"), lines
        return
    before = snapshot(run)
    refused(argv, want)
    assert snapshot(run) == {k: v for k, v in before.items() if k != LOCK_NAME}  # unchanged (a stale lock goes)
    if want == "without --resume":  # ... and the line's advice works
        assert cli(train_argv(tmp_path, "ref"))[0] == 0 and outcome(run) == expected


def test_resume_and_overwrite_together_are_refused_before_anything(tmp_path, reference):
    refused(train_argv(tmp_path / "runs", "x", "--resume", "--overwrite"), "--resume", "--overwrite")
    assert not (tmp_path / "runs").exists()
    shutil.copytree(reference[0], tmp_path / "ref")
    before = snapshot(tmp_path / "ref")
    refused(train_argv(tmp_path, "ref", "--resume", "--overwrite"), "give one of them")
    assert snapshot(tmp_path / "ref") == before
    from neurokd import train_snn

    with pytest.raises(UserError, match="give one of them"):
        train_snn(name="ref", out_dir=str(tmp_path), resume=True, overwrite=True)


def test_bad_input_found_while_setting_up_changes_nothing(tmp_path, reference):
    """The folder is locked before the dataset loads, but changed only once set-up succeeded: an --overwrite whose
    dataset is missing keeps the old run, and a new run leaves no folder (nor the out_dir it made)."""
    shutil.copytree(reference[0], tmp_path / "ref")
    before = snapshot(tmp_path)
    missing = ["--dataset", "cifar10", "--data.root", tmp_path / "no-cifar"]
    refused([*train_argv(tmp_path, "ref", "--overwrite"), *missing], "cifar")
    assert snapshot(tmp_path) == before
    refused([*train_argv(tmp_path / "new" / "runs", "x"), *missing], "cifar")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("fail_at", [1, 2])
def test_a_new_run_that_fails_is_removed_unless_it_has_a_checkpoint(tmp_path, monkeypatch, fail_at):
    from neurokd.train import loop

    real = loop.train_epoch

    def bad_sample_at(setup, state, epoch):
        if epoch == fail_at:
            raise UserError("sample 7: corrupt file")
        return real(setup, state, epoch)

    monkeypatch.setattr(loop, "train_epoch", bad_sample_at)
    refused(train_argv(tmp_path / "out", "x"), "corrupt")
    if fail_at == 1:
        assert not (tmp_path / "out").exists()
    else:  # epoch 1's checkpoint is kept, resumable
        assert sorted(p.name for p in (tmp_path / "out" / "x" / "checkpoints").iterdir()) == ["epoch_0001.safetensors"]
        assert hidden_files(tmp_path / "out" / "x") == []


def test_an_interrupted_new_run_keeps_its_folder_and_a_new_run_takes_it_over(tmp_path, monkeypatch, reference):
    from neurokd.train.objective import Objective

    def interrupt(self, epoch, epochs):
        raise KeyboardInterrupt

    real = Objective.start_epoch
    monkeypatch.setattr(Objective, "start_epoch", interrupt)
    code, lines = cli(train_argv(tmp_path, "ref"))  # Ctrl-C in epoch 1
    monkeypatch.setattr(Objective, "start_epoch", real)
    assert code == 130 and "--resume" in lines[-1], lines
    run = tmp_path / "ref"
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "model.json"]  # no lock file left
    code, lines = cli(train_argv(tmp_path, "ref"))
    assert code == 0 and lines[0].endswith("starting it afresh"), lines
    assert outcome(run) == reference[1]


def test_a_run_writes_only_the_entries_a_takeover_recognises(tmp_path):
    """:data:`RUN_ENTRIES` lists what training writes, the extra loggers' files included: a run killed before its
    first checkpoint holds nothing else, so a new run may take it over."""
    from neurokd.runs.claim import RUN_ENTRIES

    sinks = "csv,tensorboard" if importlib.util.find_spec("tensorboard") else "csv"
    code, lines = cli(train_argv(tmp_path, "logs", "--train.log_to", sinks, epochs=1))
    assert code == 0, lines
    names = {p.name for p in (tmp_path / "logs").iterdir()}
    assert names <= RUN_ENTRIES and {"metrics.csv", "config.yaml", "checkpoints"} <= names, names
