"""How a discrete neurokd neuron maps to NIR's continuous-time LIF / IF nodes, and back.

neurokd's neuron, per step: ``h = beta * v + x``, spike ``s = h > theta``, reset ``v = 0`` (or ``h - theta``).
NIR states ODEs without a time step. The forward-Euler discretisation of
``tau dv/dt = (v_leak - v) + R I`` with step ``dt`` is ``v += dt/tau * (v_leak - v + R I)``, so a unit-gain
discrete LIF is exported with the convention shared by snnTorch, SpikingJelly and the NIR-to-Lava script:

    tau = dt / (1 - beta),   r = tau / dt,   v_leak = 0,   v_reset = 0        (LIF)
    r = 1 / dt,              v_reset = 0                                      (IF: dv/dt = R I, beta = 1)

and imported as ``beta = 1 - dt/tau`` with input gain ``r * dt / tau`` (LIF) or ``r * dt`` (IF).

Exactness: the arrays are stored in the model's dtype (float32), and ``tau`` is picked among the float32
values within a few ulp of ``dt/(1-beta)`` so that ``1 - dt/tau`` gives back ``beta`` bit for bit: in float64
rounded to float32 (our importer; possible for every beta >= 0.5) and, where float32 arithmetic allows it
(about 98% of betas in [0.5, 1), including 0.5, 0.75, 0.8, 0.9, 0.95, 0.99), also in float32 arithmetic
(snnTorch's importer). Below 0.5 a float32 tau cannot always resolve beta to the last bit. So the exact
``beta``, ``threshold``, reset mode and ``dt`` are also stored in each node's metadata, which our importer
prefers when it agrees with the arrays.

Without metadata, ``dt`` defaults to 1e-4 s (snnTorch, SpikingJelly, the NIR paper and the Lava script), and an
IF node with ``r == 1`` is read as unit gain per step (the snnTorch / Norse / sinabs convention).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_DT = 1e-4
# Relative tolerance for "this gain is 1" and "metadata agrees with the arrays": float32 round-off of the
# tau / r arrays is ~1e-7; anything larger is a real difference.
GAIN_RTOL = 1e-5
# How far (in float32 ulp) from dt/(1-beta) the exporter looks for a tau that inverts exactly.
TAU_SEARCH_ULPS = 16


def euler_tau(beta: float, dt: float, dtype: type[np.floating] = np.float32) -> np.floating:
    """``tau`` in ``dtype`` such that ``1 - dt/tau`` recovers ``dtype(beta)`` exactly where possible."""
    target = dtype(beta)
    tau0 = dtype(dt / (1.0 - beta))
    cand_up = cand_down = tau0
    candidates = [tau0]
    for _ in range(TAU_SEARCH_ULPS):
        cand_up = np.nextafter(cand_up, dtype(np.inf))
        cand_down = np.nextafter(cand_down, dtype(0))
        candidates += [cand_up, cand_down]
    via_f64 = [dtype(1.0 - dt / float(tau)) == target for tau in candidates]  # our importer
    for tau, ok in zip(candidates, via_f64):
        if ok and dtype(1) - dtype(dt) / tau == target:  # float32 arithmetic, as snnTorch's importer
            return tau
    return next((tau for tau, ok in zip(candidates, via_f64) if ok), tau0)


@dataclass(frozen=True)
class DiscreteNeuron:
    """A discrete neuron recovered from a NIR node: ``h = beta v + gain x``; spike ``h > threshold``.

    ``gain`` is None when it is 1 (within float32 round-off), else an array broadcastable to the neuron shape.
    """

    beta: float
    threshold: float
    reset: str
    gain: np.ndarray | None
    v_init: float = 0.0  # membrane at the first step (NIR has no initial state: our metadata only)


def neuron_metadata(kind: str, beta: float, threshold: float, reset: str, dt: float,
                    v_init: float = 0.0) -> dict[str, Any]:
    """What our exporter records on every LIF/IF node (honoured by our importer, ignored by others); ``v_init``
    only where the membrane does not start at 0."""
    meta = {"neuron": kind, "beta": float(beta), "threshold": float(threshold), "reset": reset, "dt": float(dt)}
    return {**meta, "v_init": float(v_init)} if v_init else meta


def close_to(a: np.ndarray | float, b: float) -> bool:
    return bool(np.all(np.abs(np.asarray(a, dtype=np.float64) - b) <= GAIN_RTOL * max(1.0, abs(b))))


def nir_dim(torch_dim: int, ndim: int) -> int:
    """A batched torch dimension index as the negative NIR index of the same dimension.

    ``ndim`` is the rank of one sample (NIR shapes have no batch). Negative indices count from the end, so they
    name the same dimension in the batched tensor ``[B, *shape]`` and in NIR's unbatched ``shape``: torch
    ``Flatten(start_dim=1)`` on ``[B, C, H, W]`` is NIR ``Flatten(start_dim=-3, end_dim=-1)``. This is the
    Flatten encoding every NIR reader we checked runs batched: those that pass ``start_dim`` to
    ``torch.nn.Flatten`` unchanged (snnTorch 1.0, Norse 1.1, nirtorch 2.6's default) and those that add 1 for
    the batch (SpikingJelly 2.0, ours). Raises ``ValueError`` for the batch dimension or one out of range.
    """
    d = int(torch_dim) if torch_dim < 0 else int(torch_dim) - (ndim + 1)
    if not -ndim <= d <= -1:
        raise ValueError(f"dimension {torch_dim} of a batched {ndim + 1}-D tensor is not a sample dimension")
    return d


def torch_dim(nir_dim: int) -> int:
    """A NIR dimension index as a batched torch one: ``>= 0`` skips the batch (+1), negative ones are the same.

    Both kinds occur in files: NIR ``start_dim=0`` (our exports before negative indices, snnTorch's exporter)
    and negative indices (ours now) mean the same per the NIR spec, and both import correctly.
    """
    return int(nir_dim) + 1 if int(nir_dim) >= 0 else int(nir_dim)


def plain_metadata(meta: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata as Python scalars / strings / lists (a graph read by h5py holds numpy scalars and bytes)."""
    out: dict[str, Any] = {}
    for k, v in (meta or {}).items():
        if isinstance(v, bytes):
            v = v.decode("utf8")
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, np.generic):
            v = v.item()
        out[str(k)] = v
    return out
