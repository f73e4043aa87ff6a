"""Block-wise hybrid replacement (seed 000, BRD): SNN stage rates drive the frozen teacher's remaining stages.

For a student with stages ``stage1..stageN`` and branches at stages ``i`` (default: every stage but the last;
a branch may also leave from inside a stage, after one of its blocks: ``stageK.J``, see
:meth:`TwinNet.branch_points`), each training step computes

    y_S   the SNN logits (BPTT: mean over T; rate-BP: the rate pass),
    r_i   the rate of SNN stage i, [B, ...] (BPTT: mean over T of its spikes; rate-BP: the rate-pass output),
    y_Mi  = teacher.head(teacher.stage_N(... teacher.stage_{i+1}(aligner_i(r_i)))), the hybrid logits,
    y_A   the teacher's logits (no graph),

    loss  = KD(y_S) + sum_i w_i * KD(y_Mi),   KD(z) = (1-a)·CE(z, y) + a·tau²·KL(softmax(y_A/tau) || softmax(z/tau))

(``response_kd``; ``branch_loss: ce`` keeps only the ``(1-a)·CE`` term on the hybrids). Branch weights default to
``w_i = 2^-(N-i)`` with i the 1-based index of the stage the branch leaves from (or lies inside) and N the number
of stages (Block-KD's ``1/2^(n-i)``): for a 3-stage cnn, stage1 -> 1/4 and stage2 -> 1/2, so hybrids that hold
more of the SNN weigh more. ``progressive_epochs: P`` switches the hybrids on in depth order: hybrid k of B (k = 1 the
shallowest) joins at epoch ``1 + floor((k-1)·P/B)``.

The teacher must be a zoo ANN twin (``TwinNet``) with as many stages as the student and the same spatial size
at every branch (channels may differ: the aligner maps them). Aligners (1x1 conv + BN; linear + BN for vectors;
optionally + ReLU, since the teacher's stage outputs are non-negative; or none where shapes match) are modules of
the objective. ``aligner_init: teacher_stats`` starts each aligner's BN affine at the per-channel mean and
standard deviation of the teacher's feature at that branch, measured on ``calibration`` inputs (a batch of
training samples), so that the teacher tail sees inputs of its own scale from the first step. Aligners they train with the student, are saved in checkpoints
and dropped afterwards. The teacher is not registered: its tails run with graph (gradients reach the aligners
and the student through them) but in eval mode with frozen weights, so nothing updates its parameters or its
BatchNorm statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from neurokd.config import DistillConfig
from neurokd.distill.adapters import make_adapter
from neurokd.distill.losses import response_kd
from neurokd.distill.objective import TeacherObjective
from neurokd.distill.taps import FeatureRecorder, model_T, time_mean
from neurokd.errors import ConfigError
from neurokd.models.base import TwinNet
from neurokd.train.objective import StepOutput


def _shape(t: Tensor | Sequence[int]) -> str:
    dims = t.shape[1:] if isinstance(t, Tensor) else t
    return "[" + ", ".join(str(int(d)) for d in dims) + "]"


def default_branches(stage_names: Sequence[str]) -> list[str]:
    """Every stage but the last."""
    return list(stage_names[:-1])


def default_weights(branches: Sequence[str], stage_names: Sequence[str]) -> list[float]:
    """``w_i = 2^-(N-i)``: i the 1-based index of the stage the branch leaves from or lies inside (``stageK.J``
    is inside stage K), N the number of stages."""
    n = len(stage_names)
    return [2.0 ** -(n - (stage_names.index(b.partition(".")[0]) + 1)) for b in branches]


def progressive_start(k: int, branches: int, epochs: int) -> int:
    """First epoch (1-based) of hybrid ``k`` (1-based, depth order) of ``branches`` over ``epochs`` ramp epochs."""
    return 1 + ((k - 1) * epochs) // branches


def bptt_forward(model: nn.Module, x: Tensor, taps: Sequence[str]) -> tuple[Tensor, dict[str, Tensor]]:
    """Student logits ``[B, K]`` and the rate ``[B, ...]`` of every tap module from one normal forward (graph
    through every time step): tap outputs ``[T*B, ...]`` averaged over time. The rate-BP counterpart is
    :meth:`Objective.rate_forward` (same values, rate-pass graph)."""
    with FeatureRecorder(model, list(taps), "student") as rec:
        logits = model(x)
    T = model_T(model)
    return logits, {name: time_mean(rec.outputs[name], T) for name in taps}


def check_teacher(teacher: nn.Module, student: nn.Module) -> None:
    """A zoo ANN twin with the student's stage count; else one-line ConfigError naming both."""
    s_name = f"{type(student).__name__} ({getattr(getattr(student, 'spec', None), 'arch', '?')})"
    if not isinstance(teacher, TwinNet) or teacher.is_snn:
        kind = "an SNN twin" if isinstance(teacher, TwinNet) else type(teacher).__name__
        raise ConfigError(
            f"config key 'distill.method': blockwise needs a zoo ANN teacher (a neurokd run folder or a zoo state "
            f"dict) whose stages can take the student's rates; got {kind}; use response/feature KD for this teacher"
        )
    if not isinstance(student, TwinNet):
        raise ConfigError(f"config key 'distill.method': blockwise needs a zoo student with stages, got {s_name}")
    if len(teacher.stage_names) != len(student.stage_names):
        raise ConfigError(
            f"config key 'distill.method': blockwise needs as many teacher as student stages; student "
            f"{student.spec.arch} has {len(student.stage_names)} ({', '.join(student.stage_names)}), teacher "
            f"{teacher.spec.arch} has {len(teacher.stage_names)}; pick a teacher of the same depth layout"
        )


def resolve_branches(cfg: DistillConfig, stage_names: Sequence[str],
                     points: Sequence[str] | None = None) -> tuple[list[str], list[float]]:
    """Branch points in depth order and their weights, validated against the student's ``points``
    (:meth:`TwinNet.branch_points`; default: the stage outputs ``stage_names``)."""
    points = list(stage_names) if points is None else list(points)
    branches = default_branches(stage_names) if cfg.branches is None else [b.strip() for b in cfg.branches]
    if not branches:
        raise ConfigError("config key 'distill.branches': blockwise needs at least one branch (e.g. stage1)")
    for b in branches:
        if b not in points:
            inside = [p for p in points if p not in stage_names]
            raise ConfigError(f"config key 'distill.branches': {b!r} is not a branch point of the student; stage "
                              f"outputs are {', '.join(stage_names)}; points inside stages (after a block) are "
                              f"{', '.join(inside) or 'none in this arch'}")
    if len(set(branches)) != len(branches):
        raise ConfigError(f"config key 'distill.branches': {', '.join(branches)} names a branch point twice")
    order = sorted(range(len(branches)), key=lambda i: points.index(branches[i]))
    if cfg.branch_weights is None:
        weights = default_weights(branches, stage_names)
    elif len(cfg.branch_weights) != len(branches):
        raise ConfigError(
            f"config key 'distill.branch_weights': {len(cfg.branch_weights)} weights for {len(branches)} branches "
            f"({', '.join(branches)}); give one weight per branch"
        )
    else:
        weights = list(cfg.branch_weights)
    return [branches[i] for i in order], [weights[i] for i in order]


class BlockwiseObjective(TeacherObjective):
    """Block-wise hybrid replacement from a frozen zoo ANN ``teacher`` into the student passed to :meth:`forward`.

    ``probe_student`` has the student's structure (a fresh build of its spec is fine): one forward pass on
    zeros ``[2, *input_shape]`` fixes the branch shapes, which size the aligners (initialised from ``seed``
    without touching the global RNG). ``calibration``: inputs ``[n, *input_shape]`` for ``aligner_init:
    teacher_stats`` (e.g. the first training samples). The training loop sets ``train.backprop`` (:meth:`set_backprop`): an SNN
    student then runs BPTT or rate-BP; ANN students train with plain backprop either way.
    """

    name = "blockwise"

    def __init__(
        self,
        cfg: DistillConfig,
        teacher: nn.Module,
        probe_student: nn.Module,
        input_shape: list[int] | tuple[int, ...],
        num_classes: int,
        seed: int = 0,
        calibration: Tensor | None = None,
    ):
        super().__init__()
        if cfg.per_step:
            raise ConfigError("config key 'distill.per_step': applies to response KD, not to blockwise")
        if cfg.aligner == "none" and cfg.aligner_init != "unit":
            raise ConfigError(f"config key 'distill.aligner_init': {cfg.aligner_init} initialises the aligners' "
                              "BatchNorm, but distill.aligner is none; use conv_bn or conv_bn_relu")
        if cfg.aligner_init == "teacher_stats" and calibration is None:
            raise ValueError("aligner_init teacher_stats needs calibration inputs [n, *input_shape]")
        check_teacher(teacher, probe_student)
        self.cfg = cfg
        self._student_arch = probe_student.spec.arch
        self._set_teacher(teacher)
        self.branches, self.weights = resolve_branches(cfg, probe_student.stage_names, probe_student.branch_points())
        for b in self.branches:
            if b not in teacher.branch_points():
                raise ConfigError(f"config key 'distill.branches': the teacher {teacher.spec.arch} has no branch "
                                  f"point {b!r}; its points are {', '.join(teacher.branch_points())}")
        self.active = [True] * len(self.branches)
        s_feats, t_feats = self._probe(probe_student, input_shape, num_classes)
        self.aligners = nn.ModuleDict()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            for name in self.branches:  # ModuleDict keys may not hold dots: stage2.0 -> stage2_0
                self.aligners[name.replace(".", "_")] = self._make_aligner(name, s_feats[name], t_feats[name])
        if cfg.aligner_init == "teacher_stats":
            self._init_from_teacher_stats(calibration)

    def _probe(self, student: nn.Module, input_shape, num_classes: int) -> tuple[dict, dict]:
        """Branch rates ``[B, ...]`` of the student and stage outputs of the teacher on a zero batch."""
        x = torch.zeros(2, *input_shape)
        was_training = student.training
        student.eval()
        try:
            with torch.no_grad():
                _, s_feats = bptt_forward(student, x, self.branches)
        finally:
            student.train(was_training)
        with torch.no_grad(), FeatureRecorder(self.teacher, self.branches, "teacher") as rec:
            logits = self.teacher(x)
        if logits.shape != (2, num_classes):
            raise ConfigError(f"config key 'distill.teacher': the teacher outputs {list(logits.shape)} for a batch "
                              f"of 2, expected [2, {num_classes}] for the dataset's {num_classes} classes")
        return s_feats, rec.outputs

    def _make_aligner(self, name: str, s: Tensor, t: Tensor) -> nn.Module:
        s_shape, t_shape = tuple(s.shape[1:]), tuple(t.shape[1:])
        what = (f"student {self._student_arch} '{name}' {_shape(s_shape)} vs teacher {self.teacher.spec.arch} "
                f"'{name}' {_shape(t_shape)}")
        if len(s_shape) != len(t_shape) or s_shape[1:] != t_shape[1:]:
            raise ConfigError(f"config key 'distill.branches': {what}: blockwise needs the same spatial size at "
                              "every branch (depth-aligned stages); choose other branches or another teacher")
        if self.cfg.aligner == "none":
            if s_shape != t_shape:
                raise ConfigError(f"config key 'distill.aligner': none needs equal shapes, but {what}; use conv_bn")
            return nn.Identity()
        # the feature-KD adapter with equal spatial sizes and mode "always" is exactly 1x1 conv / linear + BN
        aligner = make_adapter(s_shape, t_shape, name, name, "always").student
        return nn.Sequential(*aligner, nn.ReLU()) if self.cfg.aligner == "conv_bn_relu" else aligner

    def aligner(self, branch: str) -> nn.Module:
        """The aligner of branch point ``branch`` (e.g. ``stage2`` or ``stage2.0``)."""
        return self.aligners[branch.replace(".", "_")]

    @torch.no_grad()
    def _init_from_teacher_stats(self, x: Tensor) -> None:
        """Each aligner's BN affine := the per-channel (std, mean) of the teacher's feature at its branch on
        ``x``: in training mode the BN output then has the teacher feature's channel statistics (before the
        ReLU of ``conv_bn_relu``)."""
        with FeatureRecorder(self.teacher, self.branches, "teacher") as rec:
            self.teacher(x)
        for name in self.branches:
            f = rec.outputs[name]
            dims = [0, *range(2, f.ndim)]
            bn = next(m for m in self.aligner(name) if isinstance(m, nn.modules.batchnorm._BatchNorm))
            bn.weight.copy_(f.std(dims))
            bn.bias.copy_(f.mean(dims))

    def start_epoch(self, epoch: int, epochs: int) -> None:
        p, b = self.cfg.progressive_epochs, len(self.branches)
        self.active = [p == 0 or epoch >= progressive_start(k, b, p) for k in range(1, b + 1)]

    def forward(self, model: nn.Module, x: Tensor, y: Tensor) -> StepOutput:  # type: ignore[override]
        cfg, teacher = self.cfg, self.teacher
        if teacher.training:  # someone called .train() on it; its BatchNorm must never use batch statistics
            teacher.eval()
        with torch.no_grad():
            t_logits = teacher(x)
        if self.uses_rate(model):
            logits, rates = self.rate_forward(model, x, self.branches)
        else:
            logits, rates = bptt_forward(model, x, self.branches)
        snn = response_kd(logits, t_logits, y, cfg.alpha, cfg.tau)
        loss = snn.loss
        hybrid = torch.zeros((), device=loss.device)
        for name, w, on in zip(self.branches, self.weights, self.active):
            if not on or w == 0.0:
                continue
            h = response_kd(teacher.forward_tail(self.aligner(name)(rates[name]), name), t_logits, y, cfg.alpha,
                            cfg.tau)
            hybrid = hybrid + w * (h.loss if cfg.branch_loss == "ce+kd" else (1.0 - cfg.alpha) * h.ce)
        loss = loss + hybrid
        return StepOutput(loss, logits, {"ce": snn.ce.item(), "kd": snn.kd.item(), "hybrid": hybrid.item()})

    def describe(self) -> dict[str, Any]:
        cfg = self.cfg
        return {"method": "blockwise", "alpha": cfg.alpha, "tau": cfg.tau, "branches": list(self.branches),
                "branch_weights": list(self.weights), "aligner": cfg.aligner, "aligner_init": cfg.aligner_init,
                "branch_loss": cfg.branch_loss, "progressive_epochs": cfg.progressive_epochs}


__all__ = ["BlockwiseObjective", "check_teacher", "default_branches", "default_weights", "progressive_start",
           "resolve_branches", "bptt_forward"]
