"""``convert(cfg)``: the ``neurokd convert`` job, a teacher ANN -> an SNN run folder.

The folder is laid out like a trained run's, so everything that reads a run reads it (``neurokd.load_model``,
eval, export, report, stream):

    <out_dir>/<name>/config.yaml        effective configuration (the SNN's model spec, data, convert section)
                     model.safetensors  the SNN; its spec holds the per-layer thresholds and initial membrane,
                                        the file's extra metadata the conversion (method, teacher, scales)
                     model.json         the spec, for people
                     summary.json       test accuracy of the SNN and the teacher, conversion seconds, scales,
                                        thresholds

The dataset is the one the teacher learned (the CLI takes it from the teacher's run folder): threshold balancing
calibrates on its training split, and both networks are scored on its test split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from neurokd.config import RunConfig
from neurokd.convert.calibration import calibration_batches, input_scale
from neurokd.convert.methods import Conversion, convert_model
from neurokd.data import DataSplits, load_dataset, make_loaders
from neurokd.data.preprocessing import input_preprocessing
from neurokd.distill.teachers import load_teacher
from neurokd.errors import ConfigError
from neurokd.eval.accuracy import evaluate
from neurokd.guard import check_inference
from neurokd.models import count_parameters
from neurokd.models.base import TwinNet
from neurokd.runs import Run
from neurokd.train.setup import configure_torch, resolve_device


@dataclass
class ConvertResult:
    run_dir: Path
    model: TwinNet
    summary: dict[str, Any]


def convert(cfg: RunConfig, *, teacher: nn.Module | None = None, splits: DataSplits | None = None,
            overwrite: bool = False) -> ConvertResult:
    """Convert ``cfg.convert.teacher`` (or ``teacher``) into an SNN running ``cfg.model.T`` steps and write the
    run folder ``cfg.run_dir``. ``cfg.model`` contributes T, the encoder and the surrogate settings kept for
    fine-tuning; the architecture is the teacher's."""
    with Run.owned(cfg, resume=False, overwrite=overwrite) as run:  # refusals before any work
        configure_torch(cfg)
        source = teacher if teacher is not None else cfg.convert.teacher
        if source is None:
            raise ConfigError("config key 'convert.teacher': no teacher given; pass the ANN's run folder, model file or "
                              "zoo state dict")
        splits = splits or load_dataset(cfg.data, cfg.seed, T=cfg.model.T, progress=cfg.train.progress)
        device = resolve_device(cfg.train.device)
        ann = load_teacher(source, splits.input_shape, splits.num_classes, cfg.distill.teacher_arch).to(device)
        # the SNN is scored at T on eval batches: refused up front when that cannot fit
        check_inference(dataclasses.replace(ann.spec, kind="snn"), cfg.model.T, cfg.data.eval_batch_size,
                        f"conversion '{cfg.name}'")
        batches = (x.to(device) for x in calibration_batches(splits, cfg.convert.calibration_samples,
                                                               cfg.data.eval_batch_size))
        conversion = convert_model(ann, cfg.model.T, cfg.convert.method, batches, cfg.convert.percentile,
                                   template=cfg.model.neuron, encoder=cfg.model.encoder, input_scale=input_scale(splits),
                                   initial_membrane=cfg.convert.initial_membrane)
        test_loader = make_loaders(splits, cfg.data, cfg.seed)[2]
        test = evaluate(conversion.model, test_loader, device)
        teacher_acc = evaluate(ann, test_loader, device)["acc"]

        cfg.model = conversion.model.spec
        cfg.convert.method = conversion.method  # what auto chose
        cfg.convert.teacher = str(source) if teacher is None else f"<{type(teacher).__name__} module>"
        summary = conversion_summary(cfg, conversion, splits, test, teacher_acc, str(device))
        run.ready(resume=False)
        run.write_config(cfg)
        model = conversion.model.cpu()
        run.save_model(model, cfg.model.to_dict(), preprocessing=input_preprocessing(splits, cfg.data),
                       extra={"conversion": {k: summary[k] for k in ("conversion", "teacher", "scales")}})
        run.write_summary(summary)
        return ConvertResult(run.folder, model, summary)


def teacher_data(teacher: str | Path) -> dict[str, Any]:
    """``seed`` and ``data.*`` of the teacher's run folder (or of the folder around its model file) as dotted
    overrides: the dataset it learned, which the conversion calibrates and scores on. Empty for a bare state dict
    and for a path that does not exist (:func:`convert` says so)."""
    if not Path(teacher).exists():
        return {}
    run = Run.open(teacher)
    if not run.has_config:
        return {}
    return {"seed": run.seed, **{f"data.{k}": v for k, v in vars(run.config.data).items()}}


def conversion_summary(cfg: RunConfig, conversion: Conversion, splits: DataSplits, test: dict[str, Any],
                       teacher_acc: float, device: str) -> dict[str, Any]:
    """``summary.json`` of a converted run: the keys a trained run has where they apply, and the conversion's."""
    spec = conversion.model.spec
    balance = conversion.method == "threshold-balance"
    return {
        "name": cfg.name, "dataset": splits.name, "arch": spec.arch, "kind": "snn", "T": spec.T,
        "method": "convert", "conversion": conversion.method, "epochs": 0,
        "levels": conversion.levels,
        "percentile": cfg.convert.percentile if balance else None,
        "calibration_samples": min(cfg.convert.calibration_samples, len(splits.train)) if balance else None,
        "initial_membrane": spec.neuron.initial_membrane,
        "test_acc": test["acc"], "test_loss": test["loss"], "teacher": cfg.convert.teacher,
        "teacher_test_acc": teacher_acc, "convert_seconds": round(conversion.seconds, 4),
        "scales": conversion.scales, "thresholds": conversion.thresholds,
        "params": count_parameters(conversion.model), "device": device,
    }


__all__ = ["ConvertResult", "conversion_summary", "convert", "teacher_data"]
