"""``distill(cfg)``: train a student under a :class:`DistillObjective` (or :class:`BlockwiseObjective`) built from
``cfg.distill``: one call to the training loop, which sets the run up once and hands it to the objective builder.

The run folder is self-describing: ``config.yaml`` holds the ``distill`` section (method, teacher path, weights,
temperature, taps, ...), so ``resume=True`` rebuilds the same teacher, objective and adapter shapes from the
saved config alone and the training loop restores the adapters' weights from the newest checkpoint. A teacher
given as a Python module is not recorded in the config: pass it again to resume.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import torch
from torch import nn

from neurokd.config import RunConfig
from neurokd.convert.init import init_student_from_teacher
from neurokd.data import DataSplits
from neurokd.distill.blockwise import BlockwiseObjective
from neurokd.distill.objective import DistillObjective, check_distill_config
from neurokd.distill.teachers import load_teacher
from neurokd.errors import ConfigError
from neurokd.eval.accuracy import evaluate
from neurokd.models.base import TwinNet
from neurokd.train.loop import TrainResult, run_training
from neurokd.train.objective import Objective
from neurokd.train.setup import RunSetup, build_configured_model

CALIBRATION_SAMPLES = 512  # training inputs that measure the teacher's feature statistics (aligner_init)


def build_distill_objective(
    cfg: RunConfig, splits: DataSplits, teacher: nn.Module | None = None
) -> tuple[DistillObjective | BlockwiseObjective, nn.Module]:
    """The objective for ``cfg.distill`` and the frozen teacher it uses (loaded from ``cfg.distill.teacher``
    unless ``teacher`` is given). ``cfg.model`` is the completed spec (:func:`~neurokd.train.setup.prepare_run`)."""
    spec = cfg.model
    check_distill_config(cfg.distill, spec.kind == "snn")
    source = teacher if teacher is not None else cfg.distill.teacher
    if source is None:
        raise ConfigError("config key 'distill.teacher': no teacher given; pass --teacher PATH (a run folder, "
                          ".safetensors, .pt/.pth or .onnx file)")
    teacher_module = load_teacher(source, spec.input_shape, spec.num_classes, cfg.distill.teacher_arch)
    with torch.random.fork_rng():  # the probe must not shift the seeded RNG stream of the real student
        probe = build_configured_model(spec)
    if cfg.distill.method == "blockwise":
        calibration = None
        if cfg.distill.aligner_init == "teacher_stats":  # the first training samples, in the split's fixed order
            n = min(CALIBRATION_SAMPLES, len(splits.train))
            calibration = splits.train.get_batch(torch.arange(n))[0]
        objective: DistillObjective | BlockwiseObjective = BlockwiseObjective(
            cfg.distill, teacher_module, probe, spec.input_shape, spec.num_classes, cfg.seed, calibration)
    else:
        objective = DistillObjective(cfg.distill, teacher_module, probe, spec.input_shape, spec.num_classes,
                                     cfg.seed)
    objective.set_backprop(cfg.train.backprop, cfg.train.rate_chunk)  # rejects impossible combinations early
    return objective, teacher_module


def distill(
    cfg: RunConfig,
    *,
    teacher: nn.Module | None = None,
    splits: DataSplits | None = None,
    resume: bool = False,
    overwrite: bool = False,
    summary_extra: dict[str, Any] | None = None,
    changes: Iterable[str] = (),
) -> TrainResult:
    """Distill ``cfg.distill``'s teacher (or ``teacher``, any ``nn.Module``) into the student ``cfg.model`` and
    write the run folder: :func:`~neurokd.train.run_training` with the objective :func:`distill_objective` builds
    (``resume``/``changes`` as there)."""
    return run_training(cfg, objective=partial(distill_objective, teacher=teacher), splits=splits,
                        model=partial(student_model, teacher=teacher), resume=resume, overwrite=overwrite,
                        summary_extra=summary_extra, changes=changes)


def student_model(setup: RunSetup, teacher: nn.Module | None = None) -> TwinNet:
    """The student as training starts: random weights, or with ``distill.init: converted`` the converted
    ``distill.teacher`` (or ``teacher``; :func:`neurokd.convert.init.init_student_from_teacher`). The run's config
    then takes the conversion's thresholds, initial membrane and method (what ``auto`` chose), so
    ``config.yaml`` and the model file record them."""
    cfg = setup.cfg
    if cfg.distill.init != "converted":
        return build_configured_model(setup.spec)
    source = teacher if teacher is not None else cfg.distill.teacher
    ann = load_teacher(source, cfg.model.input_shape, cfg.model.num_classes, cfg.distill.teacher_arch)
    student, conversion = init_student_from_teacher(cfg.model, ann, setup.splits, cfg.convert,
                                                    cfg.data.eval_batch_size)
    cfg.model, cfg.convert.method = student.spec, conversion.method
    return student


def distill_objective(setup: RunSetup, teacher: nn.Module | None = None) -> tuple[Objective, dict[str, Any]]:
    """The run's distillation objective and its summary entries: the teacher (path or module type), its test
    accuracy on the run's test split (every process scores its share) and, for ONNX teachers, the conversion
    check."""
    objective, teacher_module = build_distill_objective(setup.cfg, setup.splits, teacher)
    acc = evaluate(teacher_module.to(setup.device), setup.test_loader, setup.device, reduce=setup.reduce)["acc"]
    extra: dict[str, Any] = {
        "teacher": setup.cfg.distill.teacher if teacher is None else f"<{type(teacher).__name__} module>",
        "teacher_test_acc": acc,
    }
    if hasattr(teacher_module, "onnx_check_max_abs_diff"):
        extra["teacher_onnx_check_max_abs_diff"] = teacher_module.onnx_check_max_abs_diff
    if setup.cfg.distill.init == "converted":
        extra["init"] = "converted"
    return objective, extra


__all__ = ["build_distill_objective", "distill", "distill_objective", "student_model"]
