"""Datasets: ``load_dataset(cfg)`` -> :class:`DataSplits`; ``make_loaders`` -> train/val/test loaders;
``load_split`` -> one :class:`Split`. Names: :mod:`neurokd.data.names`.

Members are imported on first use, so ``neurokd.data.names`` is light.
"""

from neurokd.lazy import lazy_exports

_MEMBERS = {
    "DATASETS": "neurokd.data.names", "EVENT_DATASETS": "neurokd.data.names", "SPLITS": "neurokd.data.names",
    "ArrayDataset": "neurokd.data.base", "DataSplits": "neurokd.data.base", "Loader": "neurokd.data.base",
    "Normalize": "neurokd.data.base", "Split": "neurokd.data.base",
    "load_dataset": "neurokd.data.load", "load_split": "neurokd.data.load", "make_loaders": "neurokd.data.load",
    "take_split": "neurokd.data.load",
}
__getattr__, __dir__ = lazy_exports(__name__, _MEMBERS)
__all__ = sorted(_MEMBERS)
