"""LIF and IF neuron modules: thin wrappers over :mod:`neurokd.snn.functional`.

Input layout:
- ``T is None``: ``x`` is time-major ``[T, B, ...]``.
- ``T`` set (inside neurokd models): ``x`` is time-folded ``[T*B, ...]`` so that the stateless layers around the
  neuron run once over all steps; the neuron unfolds, integrates over T and folds back.

State: by default every call starts from ``v = v_init`` (0 unless set; ANN-to-SNN conversion starts QCFS neurons
at half the threshold). With ``stateful = True`` the final membrane is kept and the next call continues from it
(streaming inference); ``reset_state()`` clears it, so the next call starts from ``v_init`` again. With
``keep_membranes = True`` (inference only, no autograd) a call also keeps every post-reset membrane
``[T, B, ...]`` in ``membranes``, at no extra arithmetic (what membrane-update counts read). Inside
:func:`carrying_state` each call is one time chunk ``[Tc*B, ...]`` of a longer sequence: it continues from the
previous call's membrane *with* its autograd graph (BPTT runs through the chunk boundary) and takes
``Tc = rows / B`` steps.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn

from neurokd.snn.functional import RESETS, Reset, lif_membranes, lif_sequence, lif_step
from neurokd.snn.surrogate import Surrogate, get_surrogate


class LIF(nn.Module):
    """Leaky integrate-and-fire neuron (``v = beta v + x``, strict threshold, zero or subtract reset).

    Args:
        beta: membrane decay per step in (0, 1]; ``1`` makes it an IF neuron.
        threshold: firing threshold (membrane units).
        reset: ``"zero"`` (NIR/Loihi semantics, default) or ``"subtract"``.
        surrogate: surrogate-gradient name (``sigmoid``, ``atan``, ``triangle``) or instance.
        surrogate_alpha: sharpness/width parameter of the surrogate (None = its default).
        learn_beta: learn the decay, parametrised as ``beta = sigmoid(beta_logit)``.
        detach_reset: treat the reset as constant in the backward pass (snnTorch/SpikingJelly default).
        T: number of time steps when the input is time-folded ``[T*B, ...]``; None for ``[T, B, ...]`` input.
        v_init: membrane potential at the first step (membrane units, like ``threshold``).
    """

    def __init__(
        self,
        beta: float = 0.5,
        threshold: float = 1.0,
        reset: Reset = "zero",
        surrogate: str | Surrogate = "atan",
        surrogate_alpha: float | None = None,
        learn_beta: bool = False,
        detach_reset: bool = True,
        T: int | None = None,
        v_init: float = 0.0,
    ):
        super().__init__()
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        self.threshold = float(threshold)
        self.reset = reset
        self.surrogate = get_surrogate(surrogate, surrogate_alpha) if isinstance(surrogate, str) else surrogate
        self.detach_reset = detach_reset
        self.learn_beta = learn_beta
        self.T = T
        self.v_init = float(v_init)
        self.stateful = False
        self._v: Tensor | None = None
        self.keep_membranes = False
        self.membranes: Tensor | None = None
        self._carry_batch: int | None = None  # set by carrying_state
        if learn_beta:
            b = min(beta, 1.0 - 1e-6)
            self.beta_logit = nn.Parameter(torch.tensor(math.log(b / (1.0 - b))))
        else:
            self._beta = float(beta)

    @property
    def beta(self) -> float | Tensor:
        """Decay factor: a float, or a 0-d tensor when learnable."""
        return torch.sigmoid(self.beta_logit) if self.learn_beta else self._beta

    def extra_repr(self) -> str:
        beta = float(self.beta.detach()) if self.learn_beta else self._beta
        return (
            f"beta={beta:.4g}{' (learned)' if self.learn_beta else ''}, threshold={self.threshold}, "
            f"reset={self.reset}, surrogate={self.surrogate.name}({self.surrogate.alpha}), T={self.T}"
            + (f", v_init={self.v_init:.4g}" if self.v_init else "")
        )

    def reset_state(self) -> None:
        self._v = None

    def initial_membrane(self, like: Tensor) -> Tensor | None:
        """The membrane at the first step, shaped like one step's input ``like``; None when it is 0."""
        return torch.full_like(like, self.v_init) if self.v_init else None

    @property
    def membrane(self) -> Tensor | None:
        """The post-reset membrane kept after the last call (``stateful`` only; None before the first call)."""
        return self._v

    def _unfold(self, x: Tensor) -> Tensor:
        if self._carry_batch is not None:  # a time chunk: as many steps as it has batches of rows
            B = self._carry_batch
            if x.shape[0] % B:
                raise ValueError(f"time chunk of {x.shape[0]} rows is not a multiple of the batch {B}")
            return x.reshape(x.shape[0] // B, B, *x.shape[1:])
        if self.T is None:
            return x
        if x.shape[0] % self.T:
            raise ValueError(f"time-folded input of {x.shape[0]} rows is not a multiple of T={self.T}")
        return x.reshape(self.T, x.shape[0] // self.T, *x.shape[1:])

    def forward(self, x: Tensor) -> Tensor:
        """Spikes with the same shape as ``x``."""
        seq = self._unfold(x)
        carry = self._carry_batch is not None
        v0 = self._v if (self.stateful or carry) else None
        if v0 is not None and v0.shape != seq.shape[1:]:
            v0 = None  # batch changed: start fresh
        if v0 is None:
            v0 = self.initial_membrane(seq[0])
        if self.keep_membranes:
            s, self.membranes = lif_membranes(seq, self.beta, self.threshold, self.reset, v0)
            v = self.membranes[-1]
        else:
            s, v = lif_sequence(seq, self.beta, self.threshold, self.reset, self.surrogate, self.detach_reset, v0)
        if carry:
            self._v = v  # the next chunk continues from here, graph included
        elif self.stateful:
            self._v = v.detach()
        return s.reshape(x.shape)

    def step(self, x: Tensor, v: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step on ``x: [B, ...]`` from membrane ``v`` (``v_init`` when None): ``(spikes, new_v)``."""
        if v is None:
            v = torch.full_like(x, self.v_init)
        return lif_step(x, v, self.beta, self.threshold, self.reset, self.surrogate, self.detach_reset)


class IF(LIF):
    """Integrate-and-fire neuron: :class:`LIF` with ``beta = 1`` (no leak)."""

    def __init__(
        self,
        threshold: float = 1.0,
        reset: Reset = "zero",
        surrogate: str | Surrogate = "atan",
        surrogate_alpha: float | None = None,
        detach_reset: bool = True,
        T: int | None = None,
        v_init: float = 0.0,
    ):
        super().__init__(1.0, threshold, reset, surrogate, surrogate_alpha, False, detach_reset, T, v_init)


def spiking_neurons(module: nn.Module) -> list[LIF]:
    """All LIF/IF modules inside ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, LIF)]


@contextlib.contextmanager
def carrying_state(neurons: Sequence[LIF], batch: int) -> Iterator[None]:
    """While open, every call of these neurons is the next time chunk ``[Tc*B, ...]`` (``B = batch``) of one
    sequence: it continues from the previous call's membrane, autograd graph included. It starts from the
    stored state of a stateful neuron and from its ``v_init`` otherwise; on exit a stateful neuron keeps the final
    membrane (detached), the others keep nothing."""
    for m in neurons:
        if not m.stateful:
            m._v = None
        m._carry_batch = int(batch)
    try:
        yield
    finally:
        for m in neurons:
            m._carry_batch = None
            m._v = m._v.detach() if (m.stateful and m._v is not None) else None
