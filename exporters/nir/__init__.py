"""NIR (Neuromorphic Intermediate Representation, ``nir`` 1.0.8) export and import for neurokd SNNs.

- :func:`to_nir` (``exporters.nir.export``): neurokd SNN -> ``nir.NIRGraph`` (BatchNorm folded, Euler LIF).
- :func:`save` / :func:`read` (``exporters.nir.files``): ``.nir`` HDF5 files, atomic writes, one-line errors.
- :func:`from_nir` (``exporters.nir.importer``): any supported NIR graph -> runnable :class:`NIRNetwork`.
- :func:`compare_spikes` (``exporters.nir.verify``): spike-for-spike check of two SNNs on the same input.
- :func:`norse_graph` (``exporters.nir.interop``): the equivalent graph Norse 1.1's ``from_nir`` reads right;
  ``interop`` also says how snnTorch 1.0 and SpikingJelly 2.0 read our files (batched, as written).

The conventions (dt, reset, encoding, readout) are described in ``exporters.nir.convention`` and
``exporters.nir.export``. Submodules are imported on first use, so ``import exporters.nir`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "to_nir": "exporters.nir.export",
    "save": "exporters.nir.files",
    "read": "exporters.nir.files",
    "from_nir": "exporters.nir.importer",
    "NIRNetwork": "exporters.nir.network",
    "compare_spikes": "exporters.nir.verify",
    "record_spikes": "exporters.nir.verify",
    "norse_graph": "exporters.nir.interop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'exporters.nir' has no attribute {name!r}")
