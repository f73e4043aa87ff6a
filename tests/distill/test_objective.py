"""The distillation objective: wiring, taps, heterogeneous pairs, checkpoints, resume."""

import copy
import json

import pytest
import torch
from torch import nn

from neurokd import load_model
from neurokd.config import DistillConfig
from neurokd.distill import DistillObjective, distill
from neurokd.distill.losses import response_kd_per_step
from neurokd.distill.taps import FeatureRecorder, parse_taps
from neurokd.errors import ConfigError, UserError
from neurokd.runs.checkpoint import list_checkpoints, read_checkpoint
from neurokd.train.loop import TrainResult
from tests.distill.conftest import run_cfg, zoo
from tests.train.interrupt import run_interrupted


def _objective(teacher, student, shape, **cfg):
    return DistillObjective(DistillConfig(**cfg), teacher, student, shape, 10)


def test_teacher_is_frozen_hidden_from_state_and_optimizer_but_moves_with_it():
    teacher, student = zoo("cnn", [1, 8, 8]), zoo("cnn", [1, 8, 8], kind="snn", width=8, T=2)
    obj = _objective(teacher, student, [1, 8, 8], method="response+feature")
    assert all(k.startswith("adapters.") for k in obj.state_dict())
    assert obj.state_dict()  # the 8->16... channel adapter exists (student width 8, teacher 16)
    assert {id(p) for p in obj.parameters()}.isdisjoint({id(p) for p in teacher.parameters()})
    obj.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    obj.double()  # .to()/.cuda()/.double() reach the unregistered teacher
    assert next(teacher.parameters()).dtype == torch.float64
    assert next(obj.adapters.parameters()).dtype == torch.float64


def test_student_equal_to_teacher_gives_zero_kd_and_zero_feature_loss():
    teacher = zoo("cnn", [1, 8, 8])
    student = copy.deepcopy(teacher).requires_grad_(True).eval()  # an ANN student that already is the teacher
    obj = _objective(teacher, student, [1, 8, 8], method="response+feature", taps=["stage1", "stage3"],
                     alpha=0.7, tau=3.0, adapter="auto")  # equal shapes: identity adapters
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    out = obj(student, x, y)
    assert out.parts["kd"] == 0.0 and out.parts["feat"] == 0.0
    torch.testing.assert_close(out.loss, 0.3 * torch.nn.functional.cross_entropy(teacher(x), y))


def test_per_step_uses_every_step_and_snn_taps_are_time_means():
    teacher = zoo("cnn", [1, 8, 8])
    student = zoo("cnn", [1, 8, 8], kind="snn", T=3)
    obj = _objective(teacher, student, [1, 8, 8], method="response", per_step=True, alpha=0.5, tau=2.0)
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    out = obj(student, x, y)
    expected = response_kd_per_step(student.forward_seq(x), teacher(x), y, 0.5, 2.0)
    torch.testing.assert_close(out.loss, expected.loss)
    # the recorder sees [T*B, ...] from the folded SNN; time_mean gives the per-sample rate
    with FeatureRecorder(student, ["stage2"], "student") as rec:
        student(x)
    assert rec.outputs["stage2"].shape[0] == 3 * 4
    assert set(rec.outputs["stage2"].unique().tolist()) <= {0.0, 1.0}  # spikes


@pytest.mark.parametrize("arch,kw,taps", [
    ("cnn", {"width": 8}, ["last", "stage2"]),
    ("vgg11", {"width": 8, "downsample": "stride"}, ["last", "stage1=stage1.0.act2"]),
])
def test_heterogeneous_resnet_teacher_to_cnn_and_vgg_students(arch, kw, taps):
    teacher = zoo("resnet20", [1, 8, 8], width=16)
    student = zoo(arch, [1, 8, 8], kind="snn", T=2, **kw).train()
    obj = _objective(teacher, student, [1, 8, 8], method="feature", taps=taps)
    opt = torch.optim.SGD([*student.parameters(), *obj.parameters()], lr=0.1)
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    first = obj(student, x, y)
    first.loss.backward()
    assert all(p.grad is not None for p in obj.adapters.parameters())
    opt.step()
    assert first.parts["feat"] > 0
    d = obj.describe()
    assert d["method"] == "feature" and len(d["adapters"]) == len(taps)


def test_tap_errors_name_modules_and_shapes():
    teacher, student = zoo("resnet20", [1, 8, 8]), zoo("cnn", [1, 8, 8], kind="snn", T=2)
    with pytest.raises(ConfigError, match="student has no module 'stage9'"):
        _objective(teacher, student, [1, 8, 8], method="feature", taps=["stage9"])
    with pytest.raises(ConfigError, match="teacher has no module 'layer3'; did you mean stage3"):
        _objective(teacher, student, [1, 8, 8], method="feature", taps=["stage3=layer3"])
    with pytest.raises(ConfigError, match="did you mean stage3"):
        parse_taps(["stage3=stage3.O"], student, teacher)

    class Foreign(nn.Module):  # a teacher whose tap is a 1-D map
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv1d(8, 4, 1)
            self.fc = nn.Linear(4 * 8, 10)

        def forward(self, x):
            return self.fc(self.proj(x.view(-1, 8, 8)).flatten(1))

    with pytest.raises(ConfigError) as e:
        _objective(Foreign(), student, [1, 8, 8], method="feature", taps=["stage3=proj"])
    assert "student 'stage3' [64, 2, 2]" in str(e.value) and "teacher 'proj' [4, 8]" in str(e.value)
    with pytest.raises(ConfigError, match="'last' needs a zoo teacher"):
        _objective(Foreign(), student, [1, 8, 8], method="feature")


def test_a_teacher_that_does_not_fit_the_data_is_refused():
    student = zoo("cnn", [1, 8, 8], kind="snn", T=2)
    with pytest.raises(UserError, match="cannot run on the student's input"):
        _objective(zoo("cnn1d", [1, 40]), student, [1, 8, 8], method="response")
    five = zoo("cnn", [1, 8, 8])
    five.head[1] = nn.Linear(five.head[1].in_features, 5)
    with pytest.raises(UserError, match=r"outputs \[2, 5\]"):
        _objective(five, student, [1, 8, 8], method="response")
    with pytest.raises(ConfigError, match="distill.per_step"):
        _objective(zoo("cnn", [1, 8, 8]), student, [1, 8, 8], method="feature", per_step=True)


@pytest.mark.parametrize("method", ["response", "feature", "response+feature"])
def test_distill_run_keeps_adapters_in_checkpoints_only(tmp_path, digits_teacher, method):
    cfg = run_cfg(tmp_path, name=method, **{"distill.method": method, "distill.teacher": str(digits_teacher),
                                             "distill.adapter": "always"})
    r = distill(cfg)
    s = json.loads((r.run_dir / "summary.json").read_text())
    assert s["method"] == method and s["teacher_test_acc"] > 0.5 and s["test_acc"] > 0.3
    ckpt = read_checkpoint(list_checkpoints(r.run_dir)[-1][1])
    teacher_keys = set(load_model(digits_teacher).state_dict())
    assert bool(ckpt["objective"]) == ("feature" in method)
    assert all(k.startswith("adapters.") for k in ckpt["objective"])
    assert set(ckpt["model"]) == set(r.model.state_dict())  # the student only; no teacher tensors
    student = load_model(r.run_dir)
    assert set(student.state_dict()) == set(r.model.state_dict())
    assert not any(k.startswith(("adapters", "teacher", "_teacher")) for k in student.state_dict())
    assert set(student.state_dict()) == teacher_keys  # twins share names: same keys, the student's weights
    line = json.loads((r.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert "train_ce" in line and (("train_kd" in line) == ("response" in method))


def test_resume_rebuilds_the_objective_from_the_saved_config(tmp_path, digits_teacher, monkeypatch):
    over = {"distill.method": "response+feature", "distill.teacher": str(digits_teacher), "optim.epochs": 4,
            "distill.adapter": "always", "distill.taps": ["stage2", "last"]}
    straight = distill(run_cfg(tmp_path, name="straight", **over))

    run_interrupted(monkeypatch, DistillObjective, lambda: distill(run_cfg(tmp_path, name="cut", **over)))
    assert [e for e, _ in list_checkpoints(tmp_path / "cut")] == [1, 2]
    # resume from the run folder alone: method, teacher, taps and adapters come from config.yaml + checkpoint
    resumed = distill(run_cfg(tmp_path, name="cut"), resume=True)
    assert isinstance(resumed, TrainResult)
    a = json.loads((tmp_path / "straight" / "summary.json").read_text())
    b = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert (a["test_acc"], a["test_loss"], a["method"], a["taps"]) == (b["test_acc"], b["test_loss"], b["method"],
                                                                        b["taps"])
    ma = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    mb = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k != "epoch_s"} for x in ma]
    assert strip == [{k: v for k, v in json.loads(x).items() if k != "epoch_s"} for x in mb]
    wa, wb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ca = read_checkpoint(list_checkpoints(tmp_path / "straight")[-1][1])["objective"]
    cb = read_checkpoint(list_checkpoints(tmp_path / "cut")[-1][1])["objective"]
    assert ca.keys() == cb.keys() and all(torch.equal(ca[k], cb[k]) for k in ca)


def test_plain_training_refuses_a_distill_config(tmp_path):
    from neurokd.train import run_training

    with pytest.raises(UserError, match="neurokd distill"):
        run_training(run_cfg(tmp_path, **{"distill.method": "response"}))
    assert not (tmp_path / "r").exists()
