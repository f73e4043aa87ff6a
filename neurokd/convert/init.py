"""``distill.init: converted``: start a student from its converted teacher instead of random weights.

The student gets everything conversion produces: the rescaled weights (BatchNorm kept, scaled), the per-layer
thresholds and the initial membrane (``model.neuron.thresholds`` / ``initial_membrane`` in its spec, so the run's
config and model file record them and ``--resume`` rebuilds the same network). Its surrogate settings stay the
config's. It must have the teacher's architecture and the converted neuron, an IF neuron with subtract reset: a
different neuron would not compute what the conversion's thresholds assume, so that is refused with one line
rather than changed silently.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from neurokd.config import ConvertConfig
from neurokd.convert.calibration import calibration_batches, input_scale
from neurokd.convert.methods import Conversion, convert_model
from neurokd.data import DataSplits
from neurokd.errors import ConfigError, UserError
from neurokd.models import ModelSpec, build_model
from neurokd.models.base import TwinNet
from neurokd.models.thresholds import apply_neuron_spec


def check_student_neuron(spec: ModelSpec) -> None:
    """The student must run the neuron conversion builds: IF with subtract reset."""
    n = spec.neuron
    if spec.kind != "snn" or n.type != "if" or n.reset != "subtract":
        raise ConfigError("config key 'distill.init': converted starts the student from IF neurons with subtract "
                          f"reset (what conversion builds), but model is {spec.kind} with {n.type} neurons and "
                          f"{n.reset} reset; set --model.kind snn --model.neuron.type if --model.neuron.reset subtract")


def _same_layout(student: nn.Module, converted: nn.Module, teacher: TwinNet, spec: ModelSpec) -> None:
    want = {k: tuple(v.shape) for k, v in student.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in converted.state_dict().items()}
    diff = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
    if diff:
        k = diff[0]
        t = teacher.spec
        raise UserError(f"distill.init converted: the student ({spec.arch}, width {spec.width}) does not have the "
                        f"teacher's architecture ({t.arch}, width {t.width}): tensor '{k}' is "
                        f"{list(want.get(k, []))} in the student, {list(have.get(k, []))} in the teacher; give the "
                        "student the teacher's model.arch, model.width, model.stem and model.downsample")


def init_student_from_teacher(spec: ModelSpec, teacher: nn.Module, splits: DataSplits, cfg: ConvertConfig,
                              batch_size: int = 256) -> tuple[TwinNet, Conversion]:
    """The student twin of ``spec`` (complete: classes and input shape set) carrying the converted ``teacher``.

    Returns ``(student, conversion)``; ``student.spec`` is ``spec`` with the conversion's thresholds and initial
    membrane. ``cfg`` picks the conversion method (``auto``: qcfs for a QCFS teacher) and its calibration.
    """
    check_student_neuron(spec)
    if not isinstance(teacher, TwinNet):
        raise UserError("distill.init converted: the teacher must be a zoo ANN twin (a neurokd run folder, model "
                        f"file or zoo state dict), not {type(teacher).__name__}")
    batches = calibration_batches(splits, cfg.calibration_samples, batch_size)
    conversion = convert_model(teacher, spec.T, cfg.method, batches, cfg.percentile, template=spec.neuron,
                               encoder=spec.encoder, input_scale=input_scale(splits),
                               initial_membrane=cfg.initial_membrane)
    spec = copy.deepcopy(spec)
    spec.neuron.thresholds = None
    spec.neuron.initial_membrane = conversion.model.spec.neuron.initial_membrane
    with torch.random.fork_rng():  # building draws random weights that are overwritten at once
        student = build_model(spec)
    _same_layout(student, conversion.model, teacher, spec)
    spec.neuron.thresholds = list(conversion.model.spec.neuron.thresholds or [])
    apply_neuron_spec(student, spec.neuron)  # student.spec is spec: the run records these values
    student.load_state_dict(conversion.model.state_dict())
    return student, conversion

