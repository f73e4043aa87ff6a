"""Pure LIF/IF dynamics with explicit state.

Discrete-time neuron, per step t (docs/training.md):

    h[t] = beta * v[t-1] + x[t]              membrane before reset
    s[t] = (h[t] > theta)                      strict threshold, binary spike
    v[t] = h[t] * (1 - s[t])                  reset "zero"
    v[t] = h[t] - theta * s[t]                reset "subtract"

IF is ``beta = 1``. ``lif_step`` is the reference one-step function (autograd through a surrogate spike);
``lif_sequence`` runs all T steps in one custom autograd function with a hand-written BPTT backward that stores
only the pre-reset membranes ``h`` (one tensor of the input's size), which is what makes neurokd's training
step fast and lean. Both give bit-identical forward results.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from neurokd.snn.surrogate import Surrogate, spike

Reset = Literal["zero", "subtract"]
RESETS: tuple[str, ...] = ("zero", "subtract")


def lif_step(
    x: Tensor,
    v: Tensor,
    beta: float | Tensor,
    threshold: float,
    reset: Reset,
    surrogate: Surrogate,
    detach_reset: bool = True,
) -> tuple[Tensor, Tensor]:
    """One time step. ``x``, ``v``: input current and membrane ``[B, ...]``. Returns ``(spikes, new_v)``."""
    h = v * beta + x
    s = spike(h - threshold, surrogate)
    r = s.detach() if detach_reset else s
    if reset == "zero":
        v_new = h - h * r
    else:
        v_new = h - threshold * r
    return s, v_new


def _reset_value(h: Tensor, s: Tensor, threshold: float, subtract: bool) -> Tensor:
    """Post-reset membrane from pre-reset ``h`` and float spikes ``s`` (exact: ``s`` is 0 or 1)."""
    if subtract:
        return torch.add(h, s, alpha=-threshold)  # h - theta*s
    return torch.addcmul(h, h, s, value=-1.0)  # h - h*s


# Above this many elements per time step the backward pass works one step at a time, in place, so each
# step's tensors stay in the CPU's last-level cache; below it, whole-sequence ops save kernel launches.
STEPWISE_NUMEL = 1 << 18


def _forward_steps(x: Tensor, v0: Tensor | None, beta: float | Tensor, threshold: float, subtract: bool,
                   keep_v: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """The forward recurrence over ``x: [T, B, ...]``: ``(kept, s_all, v_T)`` with ``kept`` the pre-reset
    membranes ``h`` (what the backward pass needs) or, with ``keep_v``, the post-reset membranes ``v`` (the reset
    then runs in place over ``h``: the same arithmetic, no extra memory)."""
    kept = torch.empty_like(x)
    s_all = torch.empty_like(x)
    scratch = None if keep_v else torch.empty_like(x[0])
    v = v0
    for t in range(x.shape[0]):
        h = kept[t]
        if v is None:
            h.copy_(x[0])
        else:
            torch.mul(v, beta, out=h)
            h.add_(x[t])
        torch.gt(h, threshold, out=s_all[t])
        v = h if keep_v else scratch
        if subtract:
            torch.add(h, s_all[t], alpha=-threshold, out=v)  # h - theta*s
        else:
            torch.addcmul(h, h, s_all[t], value=-1.0, out=v)  # h - h*s
    return kept, s_all, v


class _LIFSequence(torch.autograd.Function):
    """All T steps in one autograd node. Forward: 4 tensor ops per step, only the pre-reset membranes ``h`` are
    saved. Backward: the BPTT recurrence through the membrane, written out by hand."""

    @staticmethod
    def forward(ctx, x, v0, beta, threshold, subtract, surrogate, detach_reset):  # type: ignore[override]
        h_all, s_all, v = _forward_steps(x, v0, beta, threshold, subtract)
        ctx.threshold = threshold
        ctx.subtract = subtract
        ctx.surrogate = surrogate
        ctx.detach_reset = detach_reset
        ctx.has_v0 = v0 is not None
        ctx.beta_is_tensor = isinstance(beta, Tensor)
        ctx.beta_float = None if ctx.beta_is_tensor else float(beta)
        saved = [h_all]
        if ctx.has_v0:
            saved.append(v0)
        if ctx.beta_is_tensor:
            saved.append(beta)
        ctx.save_for_backward(*saved)
        return s_all, v

    @staticmethod
    def backward(ctx, grad_s, grad_v):  # type: ignore[override]
        saved = list(ctx.saved_tensors)
        h_all = saved.pop(0)
        v0 = saved.pop(0) if ctx.has_v0 else None
        beta = saved.pop(0) if ctx.beta_is_tensor else ctx.beta_float
        theta, subtract, sur, detach = ctx.threshold, ctx.subtract, ctx.surrogate, ctx.detach_reset
        T = h_all.shape[0]
        stepwise = h_all[0].numel() >= STEPWISE_NUMEL
        grad_x = torch.empty_like(h_all)
        # a = grad_s * sg (spike path) and dv/dh (reset path), whole sequence at once for small tensors
        a_all = dvdh_all = None
        if not stepwise:
            a_all = sur.grad_(h_all - theta)
            if grad_s is not None:
                a_all.mul_(grad_s)
            else:
                a_all.zero_()
            dvdh_all = _dv_dh(h_all, theta, subtract, sur, detach, None)
        buf = None if not stepwise else torch.empty_like(h_all[0])
        buf2 = None if not stepwise else torch.empty_like(h_all[0])
        gv = grad_v  # gradient w.r.t. the post-reset membrane v[t]
        gv_buf = torch.empty_like(h_all[0])
        scale_gv = ctx.beta_is_tensor or beta != 1.0
        for t in range(T - 1, -1, -1):
            gh = grad_x[t]
            if stepwise:
                a = sur.grad_(torch.sub(h_all[t], theta, out=buf))
                if grad_s is not None:
                    torch.mul(grad_s[t], a, out=gh)
                else:
                    gh.zero_()
                dvdh = _dv_dh(h_all[t], theta, subtract, sur, detach, buf2)
            else:
                gh.copy_(a_all[t])
                dvdh = None if dvdh_all is None else dvdh_all[t]
            if gv is not None:
                if dvdh is None:
                    gh.add_(gv)
                else:
                    gh.addcmul_(gv, dvdh)
            if scale_gv:
                gv = torch.mul(gh, beta, out=gv_buf)
            else:
                gv = gh
        grad_v0 = gv.clone() if (ctx.has_v0 and ctx.needs_input_grad[1]) else None
        gbeta = None
        if ctx.beta_is_tensor and ctx.needs_input_grad[2]:
            # h[t] = beta * v[t-1] + x[t]  =>  dL/dbeta = sum_t grad_h[t] * v[t-1]
            s_prev = (h_all[:-1] > theta).to(h_all.dtype)
            v_prev = _reset_value(h_all[:-1], s_prev, theta, subtract)
            gbeta = (grad_x[1:] * v_prev).sum()
            if v0 is not None:
                gbeta = gbeta + (grad_x[0] * v0).sum()
            gbeta = gbeta.reshape(beta.shape)
        return grad_x, grad_v0, gbeta, None, None, None, None


def _dv_dh(h: Tensor, theta: float, subtract: bool, sur: Surrogate, detach: bool, out: Tensor | None):
    """d v / d h through the reset; None means 1 everywhere (detached subtractive reset)."""
    if subtract:
        if detach:
            return None
        g = sur.grad_(torch.sub(h, theta, out=out) if out is not None else h - theta)
        return g.mul_(-theta).add_(1.0)
    keep = torch.le(h, theta, out=out) if out is not None else (h <= theta).to(h.dtype)
    if detach:
        return keep
    # keep - h * sg  (sg needs its own buffer here)
    sg = sur.grad_(h - theta)
    return keep.addcmul_(h, sg, value=-1.0)


def lif_sequence(
    x: Tensor,
    beta: float | Tensor,
    threshold: float,
    reset: Reset,
    surrogate: Surrogate,
    detach_reset: bool = True,
    v0: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run ``T = x.shape[0]`` steps on ``x: [T, B, ...]`` from membrane ``v0`` (zeros when None).

    Returns ``(spikes [T, B, ...], v_T [B, ...])``. ``beta`` may be a 0-d tensor requiring grad (learnable decay).
    Equal, spike for spike, to looping :func:`lif_step`.
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if not detach_reset and (not torch.is_grad_enabled() or not x.requires_grad):
        detach_reset = True  # identical forward; avoids carrying the flag when no graph is built
    return _LIFSequence.apply(x, v0, beta, float(threshold), reset == "subtract", surrogate, detach_reset)


@torch.no_grad()
def lif_membranes(x: Tensor, beta: float | Tensor, threshold: float, reset: Reset,
                  v0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """:func:`lif_sequence`'s forward pass without autograd, keeping every post-reset membrane: ``(spikes, v)``,
    both ``[T, B, ...]``. The same arithmetic, so the same spikes bit for bit (what membrane-update counts read)."""
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if isinstance(beta, Tensor):
        beta = beta.detach()
    v_all, s_all, _ = _forward_steps(x, v0, beta, float(threshold), reset == "subtract", keep_v=True)
    return s_all, v_all


class RateTrace:
    """Running state of one neuron during a rate-BP spike pass (no autograd), carried across time chunks.

    Per element, with ``c`` a constant shift of the input current at every step and ``d[t] = dv[t]/dh[t]`` the
    reset's derivative (:func:`_dv_dh`: 1 for a detached subtract reset, ``1 - s[t]`` for a detached zero reset,
    ``1 - theta sg[t]`` / ``1 - s[t] - h[t] sg[t]`` when the reset is not detached):

        e[0] = 1,         e[t+1] = 1 + beta d[t] e[t]             (= dh[t]/dc)
        eb[0] = v[-1],    eb[t+1] = v[t] + beta d[t] eb[t]        (= dh[t]/dbeta; learnable decay only)
        rate = mean_t s[t]    kappa = mean_t sg[t] e[t]    kappa_beta = mean_t sg[t] eb[t]

    ``kappa`` equals ``sum_t d rate / d x[t]`` under BPTT with the same surrogate (the derivative of the rate
    with respect to the *time-mean* input current), which is what the rate pass propagates.
    """

    def __init__(self, track_beta: bool, v0: Tensor | None = None):
        self.track_beta = track_beta
        self.v: Tensor | None = None if v0 is None else v0.clone()  # post-reset membrane (v0: before step 0)
        self.e: Tensor | None = None  # dh/dc of the next step
        self.eb: Tensor | None = None  # dh/dbeta of the next step
        self.rate_sum: Tensor | None = None
        self.kappa_sum: Tensor | None = None
        self.kappa_beta_sum: Tensor | None = None
        self.steps = 0

    def finish(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(rate, kappa, kappa_beta)`` over all steps seen; frees the carried state."""
        n = float(self.steps)
        out = (self.rate_sum / n, self.kappa_sum / n,
               None if self.kappa_beta_sum is None else self.kappa_beta_sum / n)
        self.v = self.e = self.eb = self.rate_sum = self.kappa_sum = self.kappa_beta_sum = None
        return out


@torch.no_grad()
def lif_rate_trace(
    x: Tensor,
    trace: RateTrace,
    beta: float | Tensor,
    threshold: float,
    reset: Reset,
    surrogate: Surrogate,
    detach_reset: bool = True,
) -> Tensor:
    """Spikes ``[T, B, ...]`` for ``x: [T, B, ...]`` continuing from ``trace`` (updated in place).

    The spikes are those of :func:`lif_sequence` (the same membrane values, bit for bit); on top, the trace
    accumulates the firing rate and the eligibilities documented on :class:`RateTrace`. Every step works in place
    in preallocated buffers with as few tensor ops as possible (10 for the default detached zero reset): this loop
    is the spike pass's main cost next to the convolutions.
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    if isinstance(beta, Tensor):
        beta = beta.detach()
    subtract = reset == "subtract"
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    s_all = torch.empty_like(x)
    if trace.rate_sum is None:
        z = torch.zeros(x.shape[1:], dtype=acc, device=x.device)
        trace.rate_sum, trace.kappa_sum, trace.e = z, z.clone(), torch.ones_like(z)
        if trace.track_beta:  # eb[0] = v[-1]: the initial membrane
            trace.kappa_beta_sum = z.clone()
            trace.eb = z.clone() if trace.v is None else trace.v.to(acc, copy=True)
    e, eb = trace.e, trace.eb
    bf = float(beta)
    zero_detached = detach_reset and not subtract
    one = torch.ones((), dtype=acc, device=x.device)
    h = torch.empty_like(x[0])
    keep = torch.empty_like(h) if zero_detached else None  # 1 - s
    sg = torch.empty(x.shape[1:], dtype=acc, device=x.device)
    for t in range(x.shape[0]):
        v = trace.v
        if v is None:
            h.copy_(x[t])
            v = trace.v = torch.empty_like(h)
        else:
            torch.mul(v, beta, out=h)
            h.add_(x[t])
        s = s_all[t]
        torch.gt(h, threshold, out=s)
        g, scale = surrogate.scaled_grad_(torch.sub(h, threshold, out=sg))
        trace.kappa_sum.addcmul_(g, e, value=scale)
        if eb is not None:
            trace.kappa_beta_sum.addcmul_(g, eb, value=scale)
        # next step's eligibilities: e <- 1 + beta d e, eb <- v + beta d eb, with d = dv/dh of this step
        bd = None
        if zero_detached:
            torch.le(h, threshold, out=keep)
            torch.addcmul(one, e, keep, value=bf, out=e)
        elif detach_reset:  # subtract: d = 1
            e.mul_(bf).add_(1.0)
        else:
            bd = _dv_dh(h, threshold, subtract, surrogate, False, None).to(acc).mul_(beta)
            e.mul_(bd).add_(1.0)
        # the reset, exactly as lif_sequence computes it (h - theta*s, or h - h*s == h*(1-s) bit for bit)
        if subtract:
            torch.add(h, s, alpha=-threshold, out=v)
        else:
            torch.mul(h, keep, out=v) if zero_detached else torch.addcmul(h, h, s, value=-1.0, out=v)
        if eb is not None:
            if zero_detached:
                torch.addcmul(v, eb, keep, value=bf, out=eb)
            elif detach_reset:
                torch.add(v, eb, alpha=bf, out=eb)
            else:
                eb.mul_(bd).add_(v)
        trace.steps += 1
    trace.rate_sum.add_(s_all.sum(0, dtype=acc))
    return s_all
