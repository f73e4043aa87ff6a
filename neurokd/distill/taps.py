"""Feature taps: forward hooks that record the outputs of named modules during a forward pass.

Tap names are module paths as ``dict(model.named_modules())`` knows them (``stage2``, ``stage3.0.act2``, or an
ONNX-converted node name). A tap *spec* pairs a student module with a teacher module:

- ``last``: the last stage of each network (both must be zoo models with ``stage_names``);
- ``NAME``: the module of that name in both networks (e.g. ``stage2``);
- ``STUDENT=TEACHER``: different names (e.g. ``stage3=layer4.1`` or an ONNX node name).

SNN modules run time-folded, so their outputs are ``[T*B, ...]``; :func:`time_mean` turns a recorded output into
the per-sample mean over time ``[B, ...]`` (the rate feature for spiking layers), ANN outputs pass through.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from torch import Tensor, nn

from neurokd.errors import ConfigError
from neurokd.snn.folding import unfold


@dataclass(frozen=True)
class TapPair:
    student: str
    teacher: str

    @property
    def label(self) -> str:
        return self.student if self.student == self.teacher else f"{self.student}={self.teacher}"


def _last_stage(model: nn.Module, role: str) -> str:
    stages = getattr(model, "stage_names", None)
    if not stages:
        raise ConfigError(
            f"config key 'distill.taps': 'last' needs a zoo {role} with stages; name the {role} module instead "
            f"(STUDENT=TEACHER, e.g. stage3={_example_name(model)})"
        )
    return stages[-1]


def _example_name(model: nn.Module) -> str:
    names = [n for n, _ in model.named_modules() if n]
    return names[-2] if len(names) > 1 else (names[0] if names else "module")


def parse_taps(specs: list[str], student: nn.Module, teacher: nn.Module) -> list[TapPair]:
    """Resolve tap specs into student/teacher module-name pairs; unknown names raise ConfigError."""
    if not specs:
        raise ConfigError("config key 'distill.taps': feature KD needs at least one tap (e.g. last)")
    pairs = []
    for spec in specs:
        spec = spec.strip()
        if spec == "last":
            pair = TapPair(_last_stage(student, "student"), _last_stage(teacher, "teacher"))
        elif "=" in spec:
            s, _, t = spec.partition("=")
            pair = TapPair(s.strip(), t.strip())
        else:
            pair = TapPair(spec, spec)
        find_module(student, pair.student, "student")
        find_module(teacher, pair.teacher, "teacher")
        pairs.append(pair)
    return pairs


def find_module(model: nn.Module, name: str, role: str) -> nn.Module:
    """The submodule called ``name``; a miss names the closest matches."""
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, [n for n in modules if n], n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"config key 'distill.taps': the {role} has no module '{name}'{hint}")


def time_mean(x: Tensor, T: int) -> Tensor:
    """``[T*B, ...] -> [B, ...]`` mean over time; ``T == 1`` returns ``x`` unchanged."""
    return x if T == 1 else unfold(x, T).mean(0)


def model_T(model: nn.Module) -> int:
    """Time steps a model folds into its batch (1 for ANNs and foreign modules)."""
    return int(model.T) if getattr(model, "is_snn", False) else 1


class FeatureRecorder:
    """Context manager: while open, the outputs of the named modules are stored in :attr:`outputs`."""

    def __init__(self, model: nn.Module, names: list[str], role: str):
        self.model, self.names, self.role = model, list(dict.fromkeys(names)), role
        self.outputs: dict[str, Tensor] = {}
        self._handles: list = []

    def _hook(self, name: str):
        def hook(_module, _inputs, output):
            if not isinstance(output, Tensor):
                raise ConfigError(
                    f"config key 'distill.taps': {self.role} module '{name}' returns {type(output).__name__}, "
                    "not a tensor; tap a module with a single tensor output"
                )
            self.outputs[name] = output

        return hook

    def __enter__(self) -> FeatureRecorder:
        self.outputs = {}
        for name in self.names:
            self._handles.append(find_module(self.model, name, self.role).register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


__all__ = ["FeatureRecorder", "TapPair", "find_module", "model_T", "parse_taps", "time_mean"]
