"""Distillation losses: pure functions on logits and features (no modules, no state).

``response_kd`` is the one KD implementation in neurokd: response KD, its per-time-step variant and the
block-wise method's hybrid outputs all go through it.

- ``kd_term(s, t, tau) = tau^2 * KL(softmax(t/tau) || softmax(s/tau))``, mean over the batch (Hinton et al.;
  the tau^2 factor keeps gradient magnitudes comparable across temperatures).
- ``response_kd(s, t, y, a, tau) = (1 - a) * CE(s, y) + a * kd_term(s, t, tau)``.
- ``response_kd_per_step(seq, t, y, a, tau)``: the same on every step of SNN logits ``[T, B, K]``, averaged
  over T (the per-step form of recent SNN KD papers).
- ``feature_l2(s, t, normalize)``: mean squared error between aligned features; ``normalize="l2"`` scales each
  sample's flattened feature to unit norm first, so the loss is ``mean_b ||u_b - v_b||^2 = 2 - 2 cos``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch.nn.functional as F
from torch import Tensor

from neurokd.snn.folding import fold


class KDLoss(NamedTuple):
    loss: Tensor  # the weighted total
    ce: Tensor  # hard-label cross-entropy (unweighted)
    kd: Tensor  # tau^2 * KL term (unweighted)


def kd_term(student_logits: Tensor, teacher_logits: Tensor, tau: float) -> Tensor:
    """``tau^2 * KL(softmax(teacher/tau) || softmax(student/tau))`` averaged over the batch; logits ``[B, K]``."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student logits {list(student_logits.shape)} and teacher logits {list(teacher_logits.shape)} differ"
        )
    log_p_s = F.log_softmax(student_logits.float() / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach().float() / tau, dim=-1)
    # log_target: exact for teacher probabilities that underflow to 0 (no log(0))
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (tau * tau)


def response_kd(student_logits: Tensor, teacher_logits: Tensor, y: Tensor, alpha: float, tau: float) -> KDLoss:
    """``(1 - alpha) * CE(student, y) + alpha * kd_term(student, teacher, tau)``; logits ``[B, K]``, y ``[B]``."""
    ce = F.cross_entropy(student_logits.float(), y)
    kd = kd_term(student_logits, teacher_logits, tau)
    return KDLoss((1.0 - alpha) * ce + alpha * kd, ce, kd)


def response_kd_per_step(
    student_seq: Tensor, teacher_logits: Tensor, y: Tensor, alpha: float, tau: float
) -> KDLoss:
    """:func:`response_kd` on every step of ``student_seq [T, B, K]``, averaged over T.

    Every step has the same batch size, so the mean over steps of per-step batch means equals one batch mean
    over the folded ``[T*B, K]`` logits against the teacher repeated T times.
    """
    T = student_seq.shape[0]
    return response_kd(fold(student_seq), teacher_logits.repeat(T, 1), y.repeat(T), alpha, tau)


FeatureNorm = Literal["none", "l2"]


def feature_l2(student_feat: Tensor, teacher_feat: Tensor, normalize: FeatureNorm = "none") -> Tensor:
    """Squared-error distance between aligned features ``[B, ...]`` (same shape).

    ``none``: mean over all elements (``F.mse_loss``). ``l2``: each sample flattened and scaled to unit L2
    norm, then the squared distance summed per sample and averaged over the batch (in [0, 4]).
    """
    if student_feat.shape != teacher_feat.shape:
        raise ValueError(
            f"student feature {list(student_feat.shape)} and teacher feature {list(teacher_feat.shape)} differ"
        )
    s, t = student_feat.float(), teacher_feat.detach().float()
    if normalize == "none":
        return F.mse_loss(s, t)
    if normalize == "l2":
        u = F.normalize(s.flatten(1), dim=1, eps=1e-8)
        v = F.normalize(t.flatten(1), dim=1, eps=1e-8)
        return (u - v).pow(2).sum(1).mean()
    raise ValueError(f"unknown feature normalisation {normalize!r}; choose none or l2")


__all__ = ["KDLoss", "FeatureNorm", "feature_l2", "kd_term", "response_kd", "response_kd_per_step"]
