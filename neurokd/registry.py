"""The application's registries: names a user types, mapped to the code of any layer that implements them.

Lower layers never name upper ones; this module sits above them all and imports what it names directly (inside
the factories, so that building a parser or listing names stays free of torch and Lava).

- :data:`STREAM_BACKENDS`: stream backend name -> factory ``(model, **options) -> StreamBackend``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from neurokd.errors import UserError


def _torch_backend(model: Any, **options: Any):
    from neurokd.stream.backends import TorchSNNBackend

    return TorchSNNBackend(model, **options)


def _loihi_fixed_backend(model: Any, **options: Any):
    # the exported Loihi 2 fixed-point network on the bit-accurate NumPy model (per-layer latency aligned)
    from neurokd.exporters.lava.stream import LoihiFixedBackend

    return LoihiFixedBackend(model, **options)


STREAM_BACKENDS: dict[str, Callable[..., Any]] = {
    "torch": _torch_backend,
    "loihi-fixed": _loihi_fixed_backend,
}


def make_backend(name: str, model: Any, **options: Any):
    """Construct the stream backend registered as ``name`` for ``model`` (a TwinNet; ``loihi-fixed`` also takes
    a ``.net`` path)."""
    if name not in STREAM_BACKENDS:
        raise UserError(f"unknown stream backend {name!r}; choose one of {', '.join(STREAM_BACKENDS)}")
    return STREAM_BACKENDS[name](model, **options)
