"""The methods benchmark's bookkeeping: paired differences, rows, and the ablation variants per arch."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import methods  # noqa: E402 (benchmarks is not a package)

from neurokd.models import ModelSpec, build_model  # noqa: E402


def test_paired_differences_count_wins_over_common_seeds_only():
    d = methods.paired({0: 0.97, 1: 0.96, 2: 0.95, 3: 0.99}, {0: 0.96, 1: 0.96, 2: 0.97, 5: 0.5})
    assert d["seeds"] == [0, 1, 2] and (d["wins"], d["ties"], d["n"]) == (1, 1, 3)
    assert d["runs"] == pytest.approx([0.01, 0.0, -0.02]) and d["mean"] == pytest.approx(-1e-2 / 3)
    assert methods.paired({0: 0.9}, {1: 0.9}) is None


def _summary(final, best, epoch=3):
    return {"test_acc": final, "best_val_test_acc": best, "best_val_epoch": epoch, "train_seconds": 10.0,
            "peak_mem_mb": 5.0}


def test_row_reports_final_and_best_val_accuracy_and_both_paired_differences():
    ref = {0: _summary(0.97, 0.975), 1: _summary(0.96, 0.97)}
    other = {0: _summary(0.95, 0.96), 1: _summary(0.965, 0.965, epoch=9)}
    r = methods.row(other, ref)
    assert r["runs"] == [0.95, 0.965] and r["best_val"]["runs"] == [0.96, 0.965] and r["best_val_epochs"] == [3, 9]
    vs = r["vs_blockwise_rate"]
    assert vs["final"]["runs"] == pytest.approx([0.02, -0.005]) and vs["final"]["wins"] == 1
    assert vs["best_val"]["runs"] == pytest.approx([0.015, 0.005]) and vs["best_val"]["wins"] == 2
    assert "vs_blockwise_rate" not in methods.row(ref, ref)  # the reference against itself


def test_ablation_variants_for_the_deep_and_the_shallow_net():
    deep = build_model(ModelSpec(arch="resnet1d", kind="ann", num_classes=10, input_shape=[1, 40]))
    v = methods.ablations(10, deep.stage_names, deep.branch_points())
    assert v["blockwise_rate/inside_stages"]["distill.branches"] == ["stage1.0", "stage2.0", "stage3.0"]
    assert v["blockwise_rate/equal_weights"]["distill.branch_weights"] == [1.0, 1.0, 1.0]
    assert v["blockwise_rate/aligner_teacher_stats"]["distill.aligner_init"] == "teacher_stats"
    assert v["blockwise_rate/progressive"]["distill.progressive_epochs"] == 5
    assert all(over["train.backprop"] == "rate" for over in v.values()) and set(v) == set(methods.ABLATION_NAMES)
    shallow = build_model(ModelSpec(arch="cnn1d", kind="ann", num_classes=10, input_shape=[1, 40]))
    assert "blockwise_rate/inside_stages" not in methods.ablations(10, shallow.stage_names, shallow.branch_points())
