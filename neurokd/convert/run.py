"""``convert(cfg)``: the ``neurokd convert`` job, a teacher ANN -> an SNN run folder.

The folder is laid out like a trained run's, so everything that reads a run reads it (``neurokd.load_model``,
eval, export, report, stream):

    <out_dir>/<name>/config.yaml        effective configuration (the SNN's model spec, data, convert section)
                     model.safetensors  the SNN; its spec holds the per-layer thresholds and initial membrane,
                                        the file's extra metadata the conversion (method, scales, teacher)
                     model.json         the spec, for people
                     summary.json       test accuracy of the SNN and the teacher, conversion seconds, scales

The dataset is the one the teacher learned (the CLI takes it from the teacher's run folder): threshold balancing
calibrates on its training split, and both networks are scored on its test split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from neurokd.config import RunConfig
from neurokd.convert.calibration import calibration_batches, input_scale
from neurokd.convert.methods import Conversion, convert_model
from neurokd.data import DataSplits, load_dataset, make_loaders
from neurokd.distill.teachers import load_teacher
from neurokd.errors import ConfigError
from neurokd.eval.accuracy import evaluate
from neurokd.io import write_json, write_yaml
from neurokd.models import count_parameters
from neurokd.models.base import TwinNet
from neurokd.train.checkpoint import save_model_file
from neurokd.train.loop import check_run_dir, configure_torch, prepare_run_dir, resolve_device


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
    check_run_dir(cfg, resume=False, overwrite=overwrite)  # refuse before any work
    configure_torch(cfg)
    source = teacher if teacher is not None else cfg.convert.teacher
    if source is None:
        raise ConfigError("config key 'convert.teacher': no teacher given; pass the ANN's run folder, model file or "
                          "zoo state dict")
    splits = splits or load_dataset(cfg.data, cfg.seed, T=cfg.model.T, progress=cfg.train.progress)
    device = resolve_device(cfg.train.device)
    ann = load_teacher(source, splits.input_shape, splits.num_classes, cfg.distill.teacher_arch).to(device)
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
    run_dir = prepare_run_dir(cfg, resume=False, overwrite=overwrite)
    write_yaml(run_dir / "config.yaml", cfg.to_dict())
    write_json(run_dir / "model.json", cfg.model.to_dict())
    model = conversion.model.cpu()
    save_model_file(run_dir / "model.safetensors", model, cfg.model.to_dict(),
                    extra={"conversion": {k: summary[k] for k in ("conversion", "teacher", "scales")}})
    write_json(run_dir / "summary.json", summary)
    return ConvertResult(run_dir, model, summary)


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


__all__ = ["ConvertResult", "convert", "conversion_summary"]
