"""Block-wise hybrid replacement: loss composition, weights, frozen teacher, schedule, errors, runs, resume."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurokd import load_model
from neurokd.config import DistillConfig
from neurokd.distill import BlockwiseObjective, distill
from neurokd.distill.blockwise import default_weights, progressive_start
from neurokd.errors import ConfigError
from neurokd.runs.checkpoint import list_checkpoints, read_checkpoint
from neurokd.snn.folding import unfold
from tests.distill.conftest import run_cfg, zoo
from tests.train.interrupt import run_interrupted

SHAPE = [1, 8, 8]


def _objective(teacher, student, **cfg):
    return BlockwiseObjective(DistillConfig(method="blockwise", **cfg), teacher, student, SHAPE, 10)


def _hand_kd(z, t, y, alpha, tau):
    """(1-a)·CE + a·tau²·KL(p_t || p_s), written out."""
    p_t = torch.softmax(t / tau, 1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(z / tau, 1))).sum(1).mean()
    return (1 - alpha) * F.cross_entropy(z, y), alpha * tau * tau * kl


def test_default_branches_and_weights():
    cnn = zoo("cnn", SHAPE, kind="snn", width=4, T=2)
    obj = _objective(zoo("cnn", SHAPE, width=8), cnn)
    assert obj.branches == ["stage1", "stage2"] and obj.weights == [0.25, 0.5]  # 2^-(3-1), 2^-(3-2)
    assert default_weights(["stage1", "stage2", "stage3"], ["stage1", "stage2", "stage3", "stage4"]) == [
        0.125, 0.25, 0.5]
    custom = _objective(zoo("cnn", SHAPE, width=8), cnn, branches=["stage2", "stage1"], branch_weights=[3.0, 1.0])
    assert custom.branches == ["stage1", "stage2"] and custom.weights == [1.0, 3.0]  # sorted by depth, weights too
    d = custom.describe()
    assert d["method"] == "blockwise" and d["branch_weights"] == [1.0, 3.0]


@pytest.mark.parametrize("branch_loss", ["ce+kd", "ce"])
def test_loss_is_the_hand_computed_sum(branch_loss):
    torch.manual_seed(0)
    teacher = zoo("cnn", SHAPE, width=8)
    student = zoo("cnn", SHAPE, kind="snn", width=4, T=3).train()
    alpha, tau = 0.3, 2.0
    obj = _objective(teacher, student, alpha=alpha, tau=tau, branch_loss=branch_loss).train()
    x, y = torch.rand(5, *SHAPE) * 3, torch.randint(0, 10, (5,))
    out = obj(student, x, y)

    # by hand: run the folded SNN stage by stage, rates = mean over T of the stage spikes
    h = student.encode_input(x)
    s1 = student.stage1(student.stem(h))
    s2 = student.stage2(s1)
    logits = unfold(student.head(student.stage3(s2)), 3).mean(0)
    r1, r2 = unfold(s1, 3).mean(0), unfold(s2, 3).mean(0)
    assert 0 < r1.mean() < 1 and 0 < r2.mean() < 1  # the branches see real, non-trivial rates
    t = teacher(x)
    m1 = teacher.head(teacher.stage3(teacher.stage2(obj.aligners["stage1"](r1))))
    m2 = teacher.head(teacher.stage3(obj.aligners["stage2"](r2)))
    ce, kd = _hand_kd(logits, t, y, alpha, tau)
    hybrid = 0.0
    for w, m in ((0.25, m1), (0.5, m2)):
        ce_m, kd_m = _hand_kd(m, t, y, alpha, tau)
        hybrid = hybrid + w * (ce_m + kd_m if branch_loss == "ce+kd" else ce_m)
    torch.testing.assert_close(out.loss, ce + kd + hybrid)
    torch.testing.assert_close(out.logits, logits)
    assert out.parts["hybrid"] == pytest.approx(hybrid.item(), rel=1e-5)
    assert out.parts["ce"] == pytest.approx(ce.item() / (1 - alpha), rel=1e-5)


def test_rate_backprop_same_loss_value_exact_head_and_aligner_gradients():
    """Rate-BP changes the gradients *inside* the SNN only: the loss value (logits and rates equal the time-mean
    values at T <= chunk), the head's and the aligners' gradients are those of BPTT."""
    teacher = zoo("cnn", SHAPE, width=8)
    student = zoo("cnn", SHAPE, kind="snn", width=4, T=3).train()
    x, y = torch.rand(6, *SHAPE) * 3, torch.randint(0, 10, (6,))
    results = {}
    for mode in ("bptt", "rate"):
        s = copy.deepcopy(student)
        obj = BlockwiseObjective(DistillConfig(method="blockwise"), teacher, s, SHAPE, 10).train()
        obj.set_backprop(mode)
        out = obj(s, x, y)
        out.loss.backward()
        results[mode] = (out, s, obj)
    (ob, sb, jb), (orate, sr, jr) = results["bptt"], results["rate"]
    torch.testing.assert_close(orate.loss, ob.loss)
    torch.testing.assert_close(sr.head[1].weight.grad, sb.head[1].weight.grad)
    for pb, pr in zip(jb.aligners.parameters(), jr.aligners.parameters()):
        torch.testing.assert_close(pr.grad, pb.grad)
    gb, gr = sb.stage1[0].weight.grad.flatten(), sr.stage1[0].weight.grad.flatten()
    assert gr.abs().sum() > 0 and not torch.allclose(gr, gb)  # the rate-BP estimate, not BPTT's gradient
    assert jr.uses_rate(sr) and not jb.uses_rate(sb)


def test_teacher_is_untouched_by_a_training_step_and_gradients_reach_student_and_aligners():
    teacher = zoo("cnn", SHAPE, width=8)
    before = copy.deepcopy(teacher.state_dict())
    student = zoo("cnn", SHAPE, kind="snn", width=4, T=2).train()
    obj = _objective(teacher, student).train()
    assert all(k.startswith("aligners.") for k in obj.state_dict())  # no teacher tensors in checkpoints
    assert {id(p) for p in obj.parameters()}.isdisjoint({id(p) for p in teacher.parameters()})
    opt = torch.optim.SGD([*student.parameters(), *obj.parameters()], lr=0.5)
    x, y = torch.rand(8, *SHAPE) * 3, torch.randint(0, 10, (8,))
    out = obj(student, x, y)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.aligners.parameters())
    assert student.stage1[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    opt.step()
    obj(student, x, y)  # a second forward in train mode: BN statistics of the teacher must not move
    assert not teacher.training
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_progressive_schedule_switches_hybrids_on_in_depth_order():
    assert [progressive_start(k, 3, 6) for k in (1, 2, 3)] == [1, 3, 5]
    assert [progressive_start(k, 2, 4) for k in (1, 2)] == [1, 3]
    teacher, student = zoo("cnn", SHAPE, width=8), zoo("cnn", SHAPE, kind="snn", width=4, T=2).train()
    obj = _objective(teacher, student, progressive_epochs=4).train()
    x, y = torch.rand(6, *SHAPE) * 3, torch.randint(0, 10, (6,))
    for epoch, active in ((1, [True, False]), (2, [True, False]), (3, [True, True]), (9, [True, True])):
        obj.start_epoch(epoch, 10)
        assert obj.active == active
        obj.zero_grad(set_to_none=True)
        obj(student, x, y).loss.backward()
        grads = [all(p.grad is not None for p in obj.aligners[b].parameters()) for b in obj.branches]
        assert grads == active  # a switched-off hybrid is not computed at all
    off = _objective(teacher, student)
    off.start_epoch(1, 10)
    assert off.active == [True, True]


def test_configuration_errors_name_the_key_modules_and_shapes():
    student = zoo("cnn", SHAPE, kind="snn", width=4, T=2)

    class Foreign(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    with pytest.raises(ConfigError, match="blockwise needs a zoo ANN teacher.*got Foreign"):
        _objective(Foreign(), student)
    with pytest.raises(ConfigError, match="got an SNN twin"):
        _objective(zoo("cnn", SHAPE, kind="snn", T=2), student)
    with pytest.raises(ConfigError, match=r"student cnn has 3 \(stage1, stage2, stage3\), teacher resnet18 has 4"):
        _objective(zoo("resnet18", SHAPE, width=8), student)
    with pytest.raises(ConfigError) as e:  # an imagenet stem shrinks 8x8 to 2x2 before stage1
        _objective(zoo("resnet20", SHAPE, stem="imagenet"), student)
    assert "student cnn 'stage1' [4, 8, 8] vs teacher resnet20 'stage1' [16, 2, 2]" in str(e.value)
    assert "same spatial size" in str(e.value) and "distill.branches" in str(e.value)
    with pytest.raises(ConfigError, match=r"'distill.aligner': none needs equal shapes, but student cnn 'stage1' "
                                          r"\[4, 8, 8\] vs teacher cnn 'stage1' \[8, 8, 8\]"):
        _objective(zoo("cnn", SHAPE, width=8), student, aligner="none")
    with pytest.raises(ConfigError, match="'stage9' is not a branch point of the student; stage outputs are "
                                          "stage1, stage2, stage3; points inside stages .* none in this arch"):
        _objective(zoo("cnn", SHAPE, width=8), student, branches=["stage9"])
    with pytest.raises(ConfigError, match="names a branch point twice"):
        _objective(zoo("cnn", SHAPE, width=8), student, branches=["stage1", "stage1"])
    with pytest.raises(ConfigError, match="1 weights for 2 branches"):
        _objective(zoo("cnn", SHAPE, width=8), student, branch_weights=[1.0])
    with pytest.raises(ConfigError, match="distill.per_step"):
        _objective(zoo("cnn", SHAPE, width=8), student, per_step=True)
    same = _objective(zoo("cnn", SHAPE, width=4), student, aligner="none")  # equal shapes: identity aligners
    assert not list(same.parameters()) and not same.state_dict()


@pytest.mark.parametrize("backprop", ["bptt", "rate"])
def test_blockwise_run_saves_a_plain_snn_and_resumes_exactly(tmp_path, digits_teacher, monkeypatch, backprop):
    over = {"distill.method": "blockwise", "distill.teacher": str(digits_teacher), "optim.epochs": 3,
            "distill.progressive_epochs": 2, "train.backprop": backprop}
    straight = distill(run_cfg(tmp_path, name="straight", **over))
    s = json.loads((straight.run_dir / "summary.json").read_text())
    assert s["method"] == "blockwise" and s["branches"] == ["stage1", "stage2"] and s["test_acc"] > 0.3
    assert s["backprop"] == backprop
    assert s["peak_mem_mb"] is not None and s["peak_mem_mb"] >= 0
    line = json.loads((straight.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train_ce", "train_kd", "train_hybrid"} <= set(line)
    ckpt = read_checkpoint(list_checkpoints(straight.run_dir)[-1][1])
    assert ckpt["objective"] and all(k.startswith("aligners.") for k in ckpt["objective"])
    student = load_model(straight.run_dir)  # the saved student is a plain SNN: no aligners, no teacher
    assert student.is_snn and set(student.state_dict()) == set(load_model(digits_teacher).state_dict())

    run_interrupted(monkeypatch, BlockwiseObjective, lambda: distill(run_cfg(tmp_path, name="cut", **over)))
    resumed = distill(run_cfg(tmp_path, name="cut"), resume=True)
    wa, wb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ca = read_checkpoint(list_checkpoints(tmp_path / "straight")[-1][1])["objective"]
    cb = read_checkpoint(list_checkpoints(tmp_path / "cut")[-1][1])["objective"]
    assert ca.keys() == cb.keys() and all(torch.equal(ca[k], cb[k]) for k in ca)


@pytest.mark.parametrize("backprop", ["bptt", "rate"])
def test_resnet1d_branches_after_every_stage_but_the_last(backprop):
    """The deep 1-D net: three hybrids (stage1..3 -> 1/8, 1/4, 1/2), each reaching its SNN stages."""
    shape = [1, 40]
    teacher = zoo("resnet1d", shape, width=8)
    student = zoo("resnet1d", shape, kind="snn", width=4, T=2).train()
    obj = BlockwiseObjective(DistillConfig(method="blockwise"), teacher, student, shape, 10).train()
    obj.set_backprop(backprop)
    assert obj.branches == ["stage1", "stage2", "stage3"] and obj.weights == [0.125, 0.25, 0.5]
    assert [tuple(obj.aligners[b][0].weight.shape) for b in obj.branches] == [(8, 4, 1), (16, 8, 1), (32, 16, 1)]
    x, y = torch.randn(6, *shape) * 2, torch.randint(0, 10, (6,))
    out = obj(student, x, y)
    out.loss.backward()
    assert out.parts["hybrid"] > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.aligners.parameters())
    assert student.stem[0].weight.grad.abs().sum() > 0


def test_forward_tail_from_inside_a_stage_is_the_rest_of_the_network():
    teacher = zoo("resnet1d", [1, 40], width=4)
    assert teacher.branch_points() == ["stage1.0", "stage1", "stage2.0", "stage2", "stage3.0", "stage3", "stage4.0",
                                       "stage4"]
    x = torch.randn(3, 1, 40)
    from neurokd.distill.taps import FeatureRecorder

    with torch.no_grad(), FeatureRecorder(teacher, ["stage2.0", "stage3"], "teacher") as rec:
        logits = teacher(x)
        for point in ("stage2.0", "stage3"):
            torch.testing.assert_close(teacher.forward_tail(rec.outputs[point], point), logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no branch point 'stage2.1'"):
        teacher.forward_tail(rec.outputs["stage2.0"], "stage2.1")


def test_branches_inside_stages_weigh_as_their_stage_and_feed_the_rest_of_the_teacher():
    shape = [1, 40]
    teacher = zoo("resnet1d", shape, width=8)
    student = zoo("resnet1d", shape, kind="snn", width=4, T=2).train()
    obj = BlockwiseObjective(DistillConfig(method="blockwise", branches=["stage3.0", "stage1.0", "stage2.0"]),
                             teacher, student, shape, 10).train()
    assert obj.branches == ["stage1.0", "stage2.0", "stage3.0"] and obj.weights == [0.125, 0.25, 0.5]
    one = BlockwiseObjective(DistillConfig(method="blockwise", branches=["stage2.0"], alpha=0.0), teacher, student,
                             shape, 10).train()
    x, y = torch.randn(5, *shape) * 2, torch.randint(0, 10, (5,))
    out = one(student, x, y)
    # by hand: the block's spikes averaged over T, through the aligner, then teacher stage2.1, stage3, stage4, head
    from neurokd.distill.taps import FeatureRecorder

    with torch.no_grad(), FeatureRecorder(student, ["stage2.0"], "student") as rec:
        student(x)
    r = unfold(rec.outputs["stage2.0"], 2).mean(0)
    a = one.aligner("stage2.0")(r)
    m = teacher.head(teacher.stage4(teacher.stage3(teacher.stage2[1](a))))
    assert out.parts["hybrid"] == pytest.approx(0.25 * F.cross_entropy(m, y).item(), rel=1e-5)
    one.set_backprop("rate")  # the rate pass taps the same point: the same value (T <= rate_chunk)
    assert one(copy.deepcopy(student), x, y).parts["hybrid"] == pytest.approx(out.parts["hybrid"], rel=1e-5)
    with pytest.raises(ConfigError, match=r"'stage2.1' is not a branch point.*inside stages \(after a block\) "
                                          r"are stage1.0, stage2.0, stage3.0, stage4.0"):
        BlockwiseObjective(DistillConfig(method="blockwise", branches=["stage2.1"]), teacher, student, shape, 10)


def test_aligner_relu_and_teacher_statistics_init():
    shape = [1, 40]
    teacher = zoo("resnet1d", shape, width=8)
    student = zoo("resnet1d", shape, kind="snn", width=4, T=2).train()
    calib = torch.randn(64, *shape)
    cfg = DistillConfig(method="blockwise", aligner="conv_bn_relu", aligner_init="teacher_stats")
    obj = BlockwiseObjective(cfg, teacher, student, shape, 10, calibration=calib).train()
    from neurokd.distill.taps import FeatureRecorder

    with torch.no_grad(), FeatureRecorder(teacher, obj.branches, "teacher") as rec:
        teacher(calib)
    for b in obj.branches:
        conv, bn, relu = obj.aligner(b)
        assert isinstance(relu, nn.ReLU)
        f = rec.outputs[b]
        torch.testing.assert_close(bn.bias, f.mean([0, 2]))
        torch.testing.assert_close(bn.weight, f.std([0, 2]))
        assert (f >= 0).all() and (bn.bias > 0).any()  # post-ReLU teacher features: what the default (0, 1) misses
        z = bn(conv(torch.rand(16, conv.in_channels, f.shape[2])))  # train mode: batch statistics
        torch.testing.assert_close(z.mean([0, 2]), f.mean([0, 2]), rtol=1e-4, atol=1e-4)
    unit = BlockwiseObjective(DistillConfig(method="blockwise"), teacher, student, shape, 10)
    bn = unit.aligners["stage1"][1]
    assert len(unit.aligners["stage1"]) == 2 and torch.equal(bn.weight, torch.ones_like(bn.weight))
    with pytest.raises(ValueError, match="calibration"):
        BlockwiseObjective(DistillConfig(method="blockwise", aligner_init="teacher_stats"), teacher, student, shape,
                           10)
    with pytest.raises(ConfigError, match="'distill.aligner_init': teacher_stats .* distill.aligner is none"):
        BlockwiseObjective(DistillConfig(method="blockwise", aligner="none", aligner_init="teacher_stats"), teacher,
                           student, shape, 10, calibration=calib)


def test_teacher_stats_are_measured_on_the_first_training_samples(tmp_path, digits_teacher):
    from neurokd.data import load_dataset
    from neurokd.distill.run import CALIBRATION_SAMPLES, build_distill_objective
    from neurokd.distill.taps import FeatureRecorder
    from neurokd.train.setup import model_spec_for

    cfg = run_cfg(tmp_path, **{"distill.method": "blockwise", "distill.teacher": str(digits_teacher),
                               "distill.aligner_init": "teacher_stats"})
    splits = load_dataset(cfg.data)
    cfg.model = model_spec_for(cfg, splits)
    obj, teacher = build_distill_objective(cfg, splits)
    x = splits.train.get_batch(torch.arange(CALIBRATION_SAMPLES))[0]
    with torch.no_grad(), FeatureRecorder(teacher, ["stage2"], "teacher") as rec:
        teacher(x)
    torch.testing.assert_close(obj.aligner("stage2")[1].bias, rec.outputs["stage2"].mean([0, 2, 3]))
    assert obj.describe()["aligner_init"] == "teacher_stats"
