"""NIR (Neuromorphic Intermediate Representation, ``nir`` 1.0.8) export and import for neurokd SNNs.

- :func:`to_nir` (``neurokd.exporters.nir.export``): neurokd SNN -> ``nir.NIRGraph`` (BatchNorm folded, Euler LIF).
- :func:`save` / :func:`read` (``neurokd.exporters.nir.files``): ``.nir`` HDF5 files, atomic writes, one-line errors.
- :func:`from_nir` (``neurokd.exporters.nir.importer``): any supported NIR graph -> runnable :class:`NIRNetwork`.
- :func:`compare_spikes` (``neurokd.exporters.nir.verify``): spike-for-spike check of two SNNs on the same input.
- :func:`norse_graph` (``neurokd.exporters.nir.interop``): the equivalent graph Norse 1.1's ``from_nir`` reads right;
  ``interop`` also says how snnTorch 1.0 and SpikingJelly 2.0 read our files (batched, as written).

The conventions (dt, reset, encoding, readout) are described in ``neurokd.exporters.nir.convention`` and
``neurokd.exporters.nir.export``. Submodules are imported on first use, so ``import neurokd.exporters.nir`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "to_nir": "neurokd.exporters.nir.export",
    "save": "neurokd.exporters.nir.files",
    "read": "neurokd.exporters.nir.files",
    "from_nir": "neurokd.exporters.nir.importer",
    "NIRNetwork": "neurokd.exporters.nir.network",
    "compare_spikes": "neurokd.exporters.nir.verify",
    "record_spikes": "neurokd.exporters.nir.verify",
    "norse_graph": "neurokd.exporters.nir.interop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'neurokd.exporters.nir' has no attribute {name!r}")
