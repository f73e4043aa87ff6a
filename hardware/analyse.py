"""One call from a trained SNN (and its teacher) to a full :class:`~neurokd.hardware.report.HardwareReport`."""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from neurokd.hardware.activity import iter_batches
from neurokd.hardware.chips import resolve_chip
from neurokd.hardware.counting import count
from neurokd.hardware.energy import Convention, energy_key, estimate_energy
from neurokd.hardware.mapping import map_network
from neurokd.hardware.report import HardwareReport
from neurokd.models import build_model
from neurokd.models.fold import inference_model


def ann_twin(model: nn.Module) -> nn.Module:
    """The ANN (ReLU) twin of a neurokd SNN: same architecture, fresh weights (its dense count is exact). A model
    that is not built from a spec (e.g. an imported NIR graph) gives its own ``ann_twin()``."""
    if hasattr(model, "ann_twin"):
        return model.ann_twin()
    spec = copy.deepcopy(model.spec)
    spec.kind = "ann"
    return build_model(spec).eval()


def analyse(model: nn.Module, data: Any, chips: list[str], teacher: nn.Module | None = None, title: str = "",
            meta: dict[str, Any] | None = None, weight_bits: int = 8, latency_s: float | None = None,
            max_samples: int | None = None, progress: bool = False, teacher_source: str = "",
            convention: Convention = "full") -> HardwareReport:
    """Count ``model`` (an SNN twin; BatchNorm folded first) on ``data`` (re-iterable batches), count the ANN
    ``teacher`` on the same samples (or the ANN twin's dense MACs when None), price both on every chip of
    ``chips`` (names, ``name:variant`` or profile paths; the SNN under ``convention``), each priced model once,
    and map the SNN onto the chips that give core limits."""
    snn = inference_model(model)
    snn_counts = count(snn, data, progress=progress, max_samples=max_samples)
    first_x, _ = next(iter_batches(data))
    if teacher is not None:
        ann_counts = count(inference_model(teacher), data, spiking=False, max_samples=max_samples)
        ann_source, effective = teacher_source or "teacher", True
    else:
        ann_counts = count(ann_twin(model), first_x, spiking=False)
        ann_source, effective = "ANN twin of the same architecture: dense MACs only (pass a teacher for more)", False
    report = HardwareReport(title=title or getattr(model.spec, "arch", "model"), snn=snn_counts, ann=ann_counts,
                            ann_source=ann_source, ann_effective=effective, meta=dict(meta or {}),
                            weight_bits=weight_bits)
    for spec in chips:
        profile, variant = resolve_chip(spec)
        if any(e.key == energy_key(profile, variant) for e in report.energies):
            continue  # the same priced model asked for twice (e.g. cmos-45nm and cmos-45nm:fp32)
        report.energies.append(estimate_energy(snn_counts, profile, variant, latency_s, convention))
        model_variant = profile.model(variant)
        if model_variant is not None and model_variant.ann:
            report.ann_energies.append(estimate_energy(ann_counts, profile, variant))
        has_arch = any(c.section == "architecture" for c in profile.constants.values())
        if any(m.chip == profile.name for m in report.mappings) or not (has_arch or "architecture" in profile.absent):
            continue  # mapped already, or a profile that is not a chip (e.g. a process table)
        report.mappings.append(map_network(snn, first_x, profile, weight_bits))
    return report


__all__ = ["analyse", "ann_twin"]
