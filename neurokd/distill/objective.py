"""The distillation objective: response KD, its per-time-step variant, feature KD and their combinations.

Per training step, with student logits ``y_S`` (SNN: time-mean) and frozen-teacher logits ``y_A``:

    response           (1-a)·CE(y_S, y) + a·tau²·KL(softmax(y_A/tau) || softmax(y_S/tau))
    response, per step the same on every step's logits, averaged over T (BPTT only)
    feature            CE(y_S, y) + b·Σ_taps L2(f_A, adapter(mean_t f_S))
    response+feature   the response loss + b·Σ_taps L2(...)

Under ``train.backprop rate`` the student runs :func:`neurokd.snn.ratebp.rate_forward` instead: the same logits
and tap rates in value, with the rate-pass gradient. Adapters are modules of the objective, so they train with the
student, are saved in its checkpoints and dropped after training. The teacher is deliberately *not* a registered
submodule: it never appears in ``parameters()`` (the optimizer), ``state_dict()`` (checkpoints) or ``train()`` (it
stays in eval mode); ``.to(device)`` still moves it (see :meth:`DistillObjective._apply`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from neurokd.config import DistillConfig
from neurokd.distill.adapters import make_adapter
from neurokd.distill.losses import feature_l2, response_kd, response_kd_per_step
from neurokd.distill.methods import DISTILL_METHODS, KD_METHODS
from neurokd.distill.taps import FeatureRecorder, TapPair, model_T, parse_taps, time_mean
from neurokd.distill.teachers import freeze
from neurokd.errors import ConfigError, UserError
from neurokd.snn.ratebp import DEFAULT_CHUNK
from neurokd.train.objective import Objective, StepOutput


def method_label(cfg: DistillConfig) -> str:
    """``response``, ``response-step``, ``feature``, ``response+feature`` or ``response-step+feature``."""
    return cfg.method.replace("response", "response-step") if cfg.per_step else cfg.method


def check_distill_config(cfg: DistillConfig, student_is_snn: bool) -> None:
    if cfg.method not in DISTILL_METHODS:
        raise ConfigError(
            f"config key 'distill.method': {cfg.method!r} does not distill; choose one of {', '.join(DISTILL_METHODS)}"
        )
    if cfg.per_step and "response" not in cfg.method:
        raise ConfigError("config key 'distill.per_step': applies to response KD; use method response or "
                          "response+feature")
    if cfg.per_step and not student_is_snn:
        raise ConfigError("config key 'distill.per_step': needs an SNN student (model.kind snn)")


class TeacherObjective(Objective):
    """An objective guided by a frozen teacher that is not a registered submodule (see the module docstring)."""

    def _set_teacher(self, teacher: nn.Module) -> None:
        self._teacher = [freeze(teacher)]  # a list hides it from nn.Module registration

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        return self


class DistillObjective(TeacherObjective):
    """KD from a frozen ``teacher`` into the student the training loop passes to :meth:`forward`.

    ``probe_student`` is a module with the student's structure (a fresh build of its spec is fine): one
    forward pass on zeros ``[2, *input_shape]`` through it and the teacher fixes the tap shapes, which size the
    adapters. Adapters are initialised from ``seed`` without touching the global RNG.
    """

    def __init__(
        self,
        cfg: DistillConfig,
        teacher: nn.Module,
        probe_student: nn.Module,
        input_shape: list[int] | tuple[int, ...],
        num_classes: int,
        seed: int = 0,
    ):
        super().__init__()
        check_distill_config(cfg, getattr(probe_student, "is_snn", False))
        if cfg.method not in KD_METHODS:
            raise ConfigError(f"config key 'distill.method': {cfg.method} is not a DistillObjective method; use "
                              "neurokd.distill.run.build_distill_objective")
        self.cfg = cfg
        self.name = method_label(cfg)
        self._set_teacher(teacher)
        self.use_response = "response" in cfg.method
        self.use_feature = "feature" in cfg.method
        self.taps: list[TapPair] = parse_taps(cfg.taps, probe_student, teacher) if self.use_feature else []
        s_feats, t_feats = self._probe(probe_student, input_shape, num_classes)
        self.adapters = nn.ModuleList()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for tap in self.taps:
                self.adapters.append(make_adapter(
                    s_feats[tap.student].shape[1:], t_feats[tap.teacher].shape[1:], tap.student, tap.teacher,
                    cfg.adapter,
                ))

    def set_backprop(self, backprop: str, rate_chunk: int = DEFAULT_CHUNK) -> None:
        if backprop == "rate" and self.cfg.per_step:
            raise ConfigError(
                "config key 'train.backprop': rate has no per-step logits (one rate pass carries the gradient); "
                "use distill.per_step false with rate, or train.backprop bptt for per-step KD"
            )
        super().set_backprop(backprop, rate_chunk)

    def _probe(self, student: nn.Module, input_shape, num_classes: int) -> tuple[dict, dict]:
        """Tap features ``[B, ...]`` (time-mean for SNNs) of both networks on a zero batch; checks the logits."""
        x = torch.zeros(2, *input_shape)
        was_training = student.training
        student.eval()
        try:
            with torch.no_grad(), FeatureRecorder(student, [t.student for t in self.taps], "student") as rec:
                student(x)
        finally:
            student.train(was_training)
        s_feats = {k: time_mean(v, model_T(student)) for k, v in rec.outputs.items()}
        try:
            t_logits, t_feats = self._teacher_forward(x)
        except UserError:
            raise
        except Exception as e:  # a foreign teacher can fail in any library's way
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(
                f"teacher {type(self.teacher).__name__} cannot run on the student's input "
                f"[B, {', '.join(map(str, input_shape))}] ({type(e).__name__}: {first[:160]})"
            ) from None
        if not isinstance(t_logits, Tensor) or t_logits.shape != (2, num_classes):
            shape = list(t_logits.shape) if isinstance(t_logits, Tensor) else type(t_logits).__name__
            raise UserError(
                f"teacher {type(self.teacher).__name__}: outputs {shape} for a batch of 2, expected logits "
                f"[2, {num_classes}] for the dataset's {num_classes} classes"
            )
        return s_feats, t_feats

    @torch.no_grad()
    def _teacher_forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        teacher = self.teacher
        if teacher.training:  # someone called .train() on it; a teacher never uses batch statistics
            teacher.eval()
        names = [t.teacher for t in self.taps]
        with FeatureRecorder(teacher, names, "teacher") if names else contextlib.nullcontext() as rec:
            logits = teacher(x)
        feats = {k: time_mean(v, model_T(teacher)) for k, v in rec.outputs.items()} if names else {}
        return logits, feats

    def forward(self, model: nn.Module, x: Tensor, y: Tensor) -> StepOutput:  # type: ignore[override]
        cfg = self.cfg
        t_logits, t_feats = self._teacher_forward(x)
        names = [t.student for t in self.taps]
        rate_feats: dict[str, Tensor] | None = None
        if self.uses_rate(model):
            logits, rate_feats = self.rate_forward(model, x, names)  # tap values: rates [B, ...]
        else:
            with FeatureRecorder(model, names, "student") if names else contextlib.nullcontext() as rec:
                if cfg.per_step:
                    seq = model.forward_seq(x)
                    logits = seq.mean(0)
                else:
                    logits = model(x)
        parts: dict[str, float] = {}
        if self.use_response:
            kd = (response_kd_per_step(seq, t_logits, y, cfg.alpha, cfg.tau) if cfg.per_step
                  else response_kd(logits, t_logits, y, cfg.alpha, cfg.tau))
            loss = kd.loss
            parts.update(ce=kd.ce.item(), kd=kd.kd.item())
        else:
            loss = nn.functional.cross_entropy(logits.float(), y)
            parts["ce"] = loss.item()
        if self.use_feature:
            T = model_T(model)
            feat = sum(
                feature_l2(adapter(rate_feats[tap.student] if rate_feats is not None
                                   else time_mean(rec.outputs[tap.student], T)),
                           adapter.align_teacher(t_feats[tap.teacher]), cfg.normalize)
                for tap, adapter in zip(self.taps, self.adapters)
            )
            loss = loss + cfg.beta * feat
            parts["feat"] = feat.item()
        return StepOutput(loss, logits, parts)

    def describe(self) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {"method": self.name}
        if self.use_response:
            out.update(alpha=cfg.alpha, tau=cfg.tau)
        if self.use_feature:
            out.update(beta=cfg.beta, taps=[t.label for t in self.taps], normalize=cfg.normalize,
                       adapters=[_adapter_text(a) for a in self.adapters])
        return out


def _adapter_text(adapter: nn.Module) -> str:
    layers = list(adapter.student) if isinstance(adapter.student, nn.Sequential) else []
    names = [type(m).__name__ for m in layers] or ["identity"]
    if adapter.teacher_pool is not None:
        names.append(f"teacher pool {adapter.teacher_pool}")
    return " + ".join(names)


__all__ = ["DistillObjective", "check_distill_config", "method_label"]
