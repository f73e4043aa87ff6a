"""Adapters that align a student feature with a teacher feature for feature KD.

Shapes exclude the batch: ``[D]`` (vectors), ``[C, L]`` (1-D maps), ``[C, H, W]`` (2-D maps).

- Spatial sizes differ: adaptive average pooling brings both maps down to the smaller size along each axis
  (the student side inside the adapter, the teacher side as a fixed pooling of the target); never up.
- Channels differ (or ``always``): a 1x1 convolution (linear for vectors) followed by BatchNorm maps student
  channels to teacher channels (FitNets' regressor, as in KDSNN).
- A map against a vector: the map is global-average-pooled to ``[C]`` first.
- Anything else (e.g. a 1-D student map against a 2-D teacher map) cannot be aligned: :class:`ConfigError` names
  both modules and shapes.

Adapters train with the student (they are modules of the objective) and are dropped after training.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from neurokd.errors import ConfigError

AdapterMode = Literal["auto", "always"]

_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}
_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BN = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d}


class GlobalPool(nn.Module):
    """``[B, C, ...] -> [B, C]`` mean over every spatial axis."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2).mean(2)


class FeatureAdapter(nn.Module):
    """``student``: the trainable student-side map; ``align_teacher(t)``: fixed pooling of the teacher target."""

    def __init__(self, student: nn.Module, teacher_pool: tuple[int, ...] | str | None):
        super().__init__()
        self.student = student
        self.teacher_pool = teacher_pool  # None, "global" or an output size

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x)

    def align_teacher(self, t: Tensor) -> Tensor:
        if self.teacher_pool is None:
            return t
        if self.teacher_pool == "global":
            return t.flatten(2).mean(2)
        size = tuple(self.teacher_pool)
        return F.adaptive_avg_pool1d(t, size) if len(size) == 1 else F.adaptive_avg_pool2d(t, size)


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def make_adapter(
    student_shape: tuple[int, ...] | list[int],
    teacher_shape: tuple[int, ...] | list[int],
    student_name: str = "student",
    teacher_name: str = "teacher",
    mode: AdapterMode = "auto",
) -> FeatureAdapter:
    """An adapter mapping student features of ``student_shape`` onto ``teacher_shape`` (batch excluded)."""
    s, t = tuple(int(v) for v in student_shape), tuple(int(v) for v in teacher_shape)

    def fail(reason: str) -> ConfigError:
        return ConfigError(
            f"config key 'distill.taps': cannot align student '{student_name}' {_shape_text(s)} with teacher "
            f"'{teacher_name}' {_shape_text(t)}: {reason}; choose taps with compatible shapes"
        )

    if len(s) not in (1, 2, 3) or len(t) not in (1, 2, 3):
        raise fail("features must be [D], [C, L] or [C, H, W]")
    if 0 in s or 0 in t:
        raise fail("a feature has an empty axis")
    layers: list[nn.Module] = []
    teacher_pool: tuple[int, ...] | str | None = None
    if len(s) != len(t):
        if len(t) == 1:  # student map -> vector
            layers.append(GlobalPool())
            s = (s[0],)
        elif len(s) == 1:  # teacher map -> vector
            teacher_pool = "global"
            t = (t[0],)
        else:
            raise fail("one is a 1-D map and the other a 2-D map")
    spatial = len(s) - 1
    if spatial and s[1:] != t[1:]:
        common = tuple(min(a, b) for a, b in zip(s[1:], t[1:]))  # pool each side down, never up
        if common != s[1:]:
            layers.append(_POOL[spatial](common))
        if common != t[1:]:
            teacher_pool = common
    if s[0] != t[0] or mode == "always":
        if spatial:
            layers.append(_CONV[spatial](s[0], t[0], kernel_size=1, bias=False))
        else:
            layers.append(nn.Linear(s[0], t[0], bias=False))
        layers.append(_BN[spatial](t[0]))
    student = nn.Sequential(*layers) if layers else nn.Identity()
    return FeatureAdapter(student, teacher_pool)


__all__ = ["AdapterMode", "FeatureAdapter", "GlobalPool", "make_adapter"]
