"""Loading a dataset: ``load_dataset(cfg)`` -> :class:`DataSplits`; ``make_loaders`` -> train/val/test loaders;
``load_split`` / ``take_split`` -> one :class:`Split` as evaluation and export read it."""

from __future__ import annotations

from neurokd.data.augment import build_augment
from neurokd.data.base import DataSplits, Loader, Split
from neurokd.data.names import DATASETS, EVENT_DATASETS, SPLITS
from neurokd.errors import ConfigError


def load_dataset(cfg, seed: int = 0, T: int | None = None, progress: bool = True) -> DataSplits:
    """Load the dataset named by ``cfg.name`` (a :class:`neurokd.config.DataConfig`).

    Event datasets are binned into ``cfg.time_bins`` frames per sample, by default ``T`` (the model's steps).
    ``progress``: a progress bar (saccade-digits) or a notice (a large mnist1d ``num_samples``) while a dataset is
    generated on first use (cached after).
    """
    if cfg.name == "digits":
        from neurokd.data import digits

        return digits.load(cfg.val_fraction)
    if cfg.name == "mnist1d":
        from neurokd.data import mnist1d

        return mnist1d.load(cfg.val_fraction, cfg.num_samples, progress)
    if cfg.name in ("cifar10", "cifar100"):
        from neurokd.data import cifar

        return cifar.load(cfg.name, cfg.root, cfg.val_fraction, cfg.download)
    if cfg.name == "imagefolder":
        from neurokd.data import imagefolder

        return imagefolder.load(cfg.root, cfg.val_fraction, cfg.image_size, seed)
    if cfg.name in EVENT_DATASETS:
        from neurokd.data import events

        return events.load(cfg, T, progress)
    raise ConfigError(f"config key 'data.name': unknown dataset {cfg.name!r}; choose one of {DATASETS}")


def make_loaders(splits: DataSplits, cfg, seed: int) -> tuple[Loader, Loader, Loader]:
    """Shuffled, augmented train loader; plain val/test loaders."""
    augment = None
    if cfg.augment:
        if len(splits.input_shape) != 3:
            raise ConfigError(f"config key 'data.augment': image augmentations need 2-D images, {splits.name} is 1-D")
        augment = build_augment(cfg.augment, tuple(splits.input_shape[1:]))
    train = Loader(splits.train, cfg.batch_size, True, seed, augment, cfg.num_workers)
    val = Loader(splits.val, cfg.eval_batch_size, False, seed, None, cfg.num_workers)
    test = Loader(splits.test, cfg.eval_batch_size, False, seed, None, cfg.num_workers)
    return train, val, test


def take_split(splits: DataSplits, cfg, name: str, seed: int = 0) -> Split:
    """Split ``name`` (train, val or test) of loaded ``splits`` in order, unaugmented, in ``cfg.eval_batch_size``
    batches: what evaluation, export checks and hardware counts read."""
    if name not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
    dataset = {"train": splits.train, "val": splits.val, "test": splits.test}[name]
    return Split(name, splits, Loader(dataset, cfg.eval_batch_size, False, seed, None, cfg.num_workers))


def load_split(cfg, name: str, seed: int = 0, T: int | None = None, progress: bool = True) -> Split:
    """:func:`load_dataset` then :func:`take_split`: one split of the dataset ``cfg`` names (event data binned into
    ``T`` frames unless ``cfg.time_bins`` says otherwise)."""
    return take_split(load_dataset(cfg, seed, T=T, progress=progress), cfg, name, seed)
