"""Resource limits: sizes, depths and counts that neurokd refuses up front instead of running out of memory,
recursion or time.

Every reader checks what a file *declares* (array shapes, nesting, alias expansion, pixel counts) against these
limits before it allocates, and every command checks what the user asks for (T, batch, window counts) the same
way. The defaults are sized for real models on a 24 GiB machine; each can be raised (or lowered) with an
environment variable:

| limit | default | variable | why this default |
|---|---|---|---|
| memory | 16 GiB | ``NEUROKD_MEMORY_GIB`` | one request's arrays (a file's tensors, a run's estimated activations); a 24 GiB machine keeps 8 GiB for the OS, the Python/torch runtime, data and page cache |
| nesting depth | 32 | ``NEUROKD_MAX_DEPTH`` | real files nest 2-5 levels (configs, specs, chip profiles, NIR graphs with one level of subgraphs); 32 is far below the recursion limits of json, PyYAML and nir |
| text file size | 16 MiB | ``NEUROKD_MAX_TEXT_MIB`` | YAML/JSON configs, chip profiles and label files are kilobytes |
| YAML nodes | 100000 | ``NEUROKD_MAX_YAML_NODES`` | nodes after alias expansion; a config or chip profile has hundreds (a 600-byte alias bomb has 9^9) |
| image pixels | 89478485 | ``NEUROKD_MAX_IMAGE_PIXELS`` | Pillow's own decompression-bomb threshold (256 MiB as RGB per decoded image) |
| stream windows | 10000000 | ``NEUROKD_MAX_WINDOWS`` | each window's result is kept (about 0.3 KB: 3 GiB at the limit) and costs at least about 0.1 ms: an hour of events in 1 ms windows is 3.6 million |
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from neurokd.errors import ConfigError, ResourceError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 16 * GiB
    max_depth: int = 32
    text_bytes: int = 16 * MiB
    yaml_nodes: int = 100_000
    image_pixels: int = 89_478_485
    windows: int = 10_000_000


# field -> (environment variable, unit the variable is given in)
ENV: dict[str, tuple[str, int]] = {
    "memory_bytes": ("NEUROKD_MEMORY_GIB", GiB),
    "max_depth": ("NEUROKD_MAX_DEPTH", 1),
    "text_bytes": ("NEUROKD_MAX_TEXT_MIB", MiB),
    "yaml_nodes": ("NEUROKD_MAX_YAML_NODES", 1),
    "image_pixels": ("NEUROKD_MAX_IMAGE_PIXELS", 1),
    "windows": ("NEUROKD_MAX_WINDOWS", 1),
}


def limits() -> Limits:
    """The limits in force: the defaults, overridden by the environment variables of :data:`ENV`."""
    values = {}
    for f in fields(Limits):
        var, unit = ENV[f.name]
        raw = os.environ.get(var)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"environment variable {var}={raw!r}: expected a positive number")
        values[f.name] = max(1, int(value * unit))
    return Limits(**values)


def fmt_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``'1.5 GiB'``)."""
    for unit, size in (("TiB", 1 << 40), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse ``what`` (e.g. ``"model file m.safetensors: tensor 'w'"``) when it needs more than the memory
    limit; the message carries the estimate, the limit and ``fix``."""
    limit = limits().memory_bytes
    if nbytes > limit:
        raise ResourceError(f"{what} needs about {fmt_bytes(nbytes)}, more than the {fmt_bytes(limit)} memory "
                            f"limit; {fix} (or raise {ENV['memory_bytes'][0]})")


def check_count(n: float, name: str, what: str, fix: str) -> None:
    """Refuse ``n`` of something against the count limit ``name`` (a :class:`Limits` field other than memory)."""
    limit = getattr(limits(), name)
    if n > limit:
        raise ResourceError(f"{what}: {n:.4g} is over the limit of {limit:,}; {fix} (or raise {ENV[name][0]})")
