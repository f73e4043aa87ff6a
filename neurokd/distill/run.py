"""``distill(cfg)``: train a student under a :class:`DistillObjective` built from ``cfg.distill``.

The run folder is self-describing: ``config.yaml`` holds the ``distill`` section (method, teacher path, weights,
temperature, taps, ...), so ``resume=True`` rebuilds the same teacher, objective and adapter shapes from the
saved config alone and the training loop restores the adapters' weights from the newest checkpoint. A teacher
given as a Python module is not recorded in the config: pass it again to resume.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neurokd.config import RunConfig
from neurokd.convert.init import init_student_from_teacher
from neurokd.data import DataSplits, load_dataset, make_loaders
from neurokd.distill.blockwise import BlockwiseObjective
from neurokd.distill.objective import DistillObjective, check_distill_config
from neurokd.distill.teachers import load_teacher
from neurokd.errors import ConfigError
from neurokd.eval.accuracy import evaluate
from neurokd.train import distributed as ddp
from neurokd.train.loop import (
    TrainResult,
    build_configured_model,
    configure_torch,
    effective_config,
    model_spec_for,
    resolve_device,
    run_training,
)

CALIBRATION_SAMPLES = 512  # training inputs that measure the teacher's feature statistics (aligner_init)


def build_distill_objective(
    cfg: RunConfig, splits: DataSplits, teacher: nn.Module | None = None
) -> tuple[DistillObjective | BlockwiseObjective, nn.Module]:
    """The objective for ``cfg.distill`` and the frozen teacher it uses (loaded from ``cfg.distill.teacher``
    unless ``teacher`` is given)."""
    spec = model_spec_for(cfg, splits)
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
) -> TrainResult:
    """Distill ``cfg.distill``'s teacher into the student ``cfg.model`` and write the run folder."""
    cfg = effective_config(cfg, resume)
    with ddp.distributed_session(cfg.train.device) as info:
        configure_torch(cfg)
        splits = splits or load_dataset(cfg.data, cfg.seed, T=cfg.model.T, progress=cfg.train.progress)
        objective, teacher_module = build_distill_objective(cfg, splits, teacher)
        student = None
        if cfg.distill.init == "converted":  # the student starts as the converted teacher (neurokd.convert.init)
            student, conversion = init_student_from_teacher(model_spec_for(cfg, splits), teacher_module, splits,
                                                            cfg.convert, cfg.data.eval_batch_size)
            cfg.model = student.spec
            summary_extra = {"init": "converted", "conversion": conversion.method, **(summary_extra or {})}
        device = resolve_device(ddp.process_device(cfg.train.device, info))
        test_loader = make_loaders(splits, cfg.data, cfg.seed)[2]
        if info.enabled:  # each process scores its share of the test split
            test_loader.shard(info.rank, info.world, by_batch=False)
        teacher_acc = evaluate(teacher_module.to(device), test_loader, device,
                               reduce=ddp.all_sum if info.enabled else None)["acc"]
        return _distill(cfg, teacher, teacher_module, objective, teacher_acc, splits, resume, overwrite,
                        summary_extra, student)


def _distill(cfg, teacher, teacher_module, objective, teacher_acc, splits, resume, overwrite, summary_extra,
             student=None):
    extra: dict[str, Any] = {
        "teacher": cfg.distill.teacher if teacher is None else f"<{type(teacher).__name__} module>",
        "teacher_test_acc": teacher_acc,
    }
    if hasattr(teacher_module, "onnx_check_max_abs_diff"):
        extra["teacher_onnx_check_max_abs_diff"] = teacher_module.onnx_check_max_abs_diff
    extra.update(summary_extra or {})
    return run_training(cfg, objective=objective, splits=splits, model=student, resume=resume, overwrite=overwrite,
                        summary_extra=extra)


__all__ = ["build_distill_objective", "distill"]
