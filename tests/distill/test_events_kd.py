"""Distillation on event data: teachers see accumulated frames, students the event frames, methods unchanged."""

import copy
import dataclasses
import json

import pytest
import torch

from neurokd.config import DataConfig, DistillConfig
from neurokd.data import load_dataset
from neurokd.distill import DistillObjective, distill
from neurokd.distill.losses import response_kd
from neurokd.train import run_training
from tests.distill.conftest import randomize_bn, run_cfg, zoo

SHAPE = [2, 34, 34]


def _head(ds, n):
    """The first ``n`` samples of an event dataset (frames are cached by index, so a shorter view is exact)."""
    ds = copy.copy(ds)
    ds.y = ds.y[:n]
    return ds


@pytest.fixture(scope="module")
def splits():
    full = load_dataset(DataConfig(name="saccade-digits"), 0, T=2)
    return dataclasses.replace(full, train=_head(full.train, 240), val=_head(full.val, 40), test=_head(full.test, 80))


def test_objective_on_event_frames_uses_the_accumulated_frame_for_the_teacher():
    teacher = zoo("cnn", SHAPE, width=4)
    student = randomize_bn(zoo("cnn", SHAPE, kind="snn", width=4, T=3)).train()
    x = torch.poisson(torch.full((3, 5, *SHAPE), 0.3))  # event counts [T, B, P, H, W]
    y = torch.randint(0, 10, (5,))
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), teacher(x.sum(0)))  # an ANN given a sequence sees its sum
    obj = DistillObjective(DistillConfig(method="response", alpha=0.6, tau=3.0), teacher, student, SHAPE, 10)
    torch.manual_seed(1)
    out = obj(student, x, y)
    torch.manual_seed(1)
    expected = response_kd(student(x), teacher(x.sum(0)), y, 0.6, 3.0)
    torch.testing.assert_close(out.loss, expected.loss)
    feat = DistillObjective(DistillConfig(method="response+feature", taps=["stage2", "last"]), teacher, student,
                            SHAPE, 10)
    out = feat(student, x, y)
    assert out.parts["feat"] > 0 and torch.isfinite(out.loss)
    out.loss.backward()  # gradients reach the student through the event-frame sequence
    first = [p for n, p in student.named_parameters() if n.startswith("stage1")]
    assert first and all(p.grad is not None and p.grad.abs().sum() > 0 for p in first)


@pytest.mark.parametrize("method", ["response", "feature"])
def test_distill_runs_on_saccade_digits(tmp_path, splits, method):
    over = {"data.name": "saccade-digits", "model.width": 4, "optim.epochs": 1, "optim.lr": 3e-3}
    teacher = run_training(run_cfg(tmp_path, name="teacher", **{**over, "model.kind": "ann", "optim.epochs": 2}),
                           splits=splits)
    cfg = run_cfg(tmp_path, name=f"kd_{method}", **over, **{"model.kind": "snn", "distill.method": method,
                                                             "distill.teacher": str(teacher.run_dir)})
    r = distill(cfg, splits=splits)
    s = r.summary
    assert s["method"] == method and s["teacher_test_acc"] == teacher.summary["test_acc"]
    assert 0.0 <= s["test_acc"] <= 1.0 and s["T"] == 2
    epochs = [json.loads(line) for line in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    parts = {k for e in epochs for k in e}
    assert ("feat" in " ".join(parts)) == (method == "feature")  # the feature term was trained on events


@pytest.mark.slow
def test_distill_loads_event_data_binned_into_the_students_T(tmp_path, splits):
    """Without ``splits`` (the CLI path) and with data.time_bins unset, the recordings are binned into model.T
    frames (they were binned into 10 and rejected as a time_bins mismatch)."""
    over = {"data.name": "saccade-digits", "model.width": 4, "optim.epochs": 1, "model.T": 3}
    teacher = run_training(run_cfg(tmp_path, name="teacher", **{**over, "model.kind": "ann"}), splits=splits)
    cfg = run_cfg(tmp_path, name="kd", **over, **{"model.kind": "snn", "distill.method": "response",
                                                   "distill.teacher": str(teacher.run_dir)})
    assert distill(cfg).summary["T"] == 3
