"""Event-camera datasets as frame sequences: ``saccade-digits`` (embedded), N-MNIST, DVS Gesture, CIFAR10-DVS.

Each sample's events go through ``[FromFirstEvent] -> [Denoise] -> ToFrames`` and come out as ``T`` frames of
event counts ``[T, 2, H, W]``, ``T = data.time_bins`` (default: the model's ``T``), each bin ``data.bin_ms``
long (default: the dataset's nominal recording length / T). Binned frames go to a :class:`FrameCache`.

Batches are time-major ``x: float [T, B, 2, H, W]``: an SNN student consumes them step by step, and an ANN
teacher (``TwinNet`` given a sequence) sees their sum over T, the accumulated frame of the same events. So a
teacher batch and a student batch always come from the same recordings, and any objective that calls
``teacher(x)`` and ``student(x)`` works unchanged on event data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from neurokd.data.base import ArrayDataset, DataSplits, split_off
from neurokd.data.events import formats
from neurokd.data.events.cache import FrameCache
from neurokd.data.events.core import SensorSize, check_events
from neurokd.data.events.transforms import Compose, Denoise, FromFirstEvent, ToFrames
from neurokd.errors import ConfigError, DatasetError


@dataclass(frozen=True)
class EventDatasetInfo:
    name: str
    sensor_size: SensorSize  # (W, H, P), tonic's convention
    num_classes: int
    duration_us: int  # nominal recording length: the default bin is duration / T
    from_first_event: bool  # recordings with absolute timestamps start their clock at the first event


INFO = {
    "saccade-digits": EventDatasetInfo("saccade-digits", (34, 34, 2), 10, 300_000, False),
    "nmnist": EventDatasetInfo("nmnist", (34, 34, 2), 10, 300_000, False),
    "dvsgesture": EventDatasetInfo("dvsgesture", (128, 128, 2), 11, 6_000_000, True),
    "cifar10dvs": EventDatasetInfo("cifar10dvs", (128, 128, 2), 10, 1_300_000, True),
}
DEFAULT_TIME_BINS = 10


# ------------------------------------------------------------------------------------------- sample sources

class ArraySamples:
    """Recordings held in memory: one concatenated event array plus offsets (generated datasets)."""

    def __init__(self, events: np.ndarray, offsets: np.ndarray, index: np.ndarray, key: str):
        self._events, self._offsets, self.index = events, offsets, np.asarray(index)
        self.key = f"{key}:{hashlib.sha1(self.index.tobytes()).hexdigest()[:12]}"

    def __len__(self) -> int:
        return len(self.index)

    def events(self, i: int) -> np.ndarray:
        j = int(self.index[i])
        return self._events[self._offsets[j]:self._offsets[j + 1]]


class FileSamples:
    """One recording per file, read (and checked against the sensor) on demand."""

    def __init__(self, paths: list[Path], reader: Callable[[Path], np.ndarray], sensor_size: SensorSize):
        self.paths, self.reader, self.sensor_size = paths, reader, sensor_size
        stamp = "|".join(f"{p}:{_stat(p)}" for p in paths)
        self.key = hashlib.sha1(stamp.encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.paths)

    def events(self, i: int) -> np.ndarray:
        ev = self.reader(self.paths[i])
        check_events(ev, self.sensor_size, f"event file {self.paths[i]}")
        return ev

    def subset(self, index: np.ndarray) -> FileSamples:
        return FileSamples([self.paths[int(i)] for i in index], self.reader, self.sensor_size)


def _stat(p: Path) -> str:
    try:
        st = p.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "missing"


# --------------------------------------------------------------------------------------------- the dataset

class EventFrameDataset(ArrayDataset):
    """Event recordings served as frames. ``dataset[i] -> (float [T, 2, H, W], label)``;
    ``get_batch(idx) -> (float [T, B, 2, H, W], long [B])`` (time-major, as SNNs take sequences)."""

    def __init__(self, samples, labels: np.ndarray, transform: Callable[[np.ndarray], np.ndarray],
                 frame_shape: tuple[int, ...], cache: FrameCache):
        if len(samples) != len(labels):
            raise ValueError(f"{len(samples)} samples but {len(labels)} labels")
        self.samples, self.transform, self.frame_shape, self.cache = samples, transform, frame_shape, cache
        self.y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.normalize = None

    def __len__(self) -> int:
        return len(self.y)

    def frames(self, i: int) -> np.ndarray:
        """Event counts ``int16 [T, 2, H, W]`` of sample ``i`` (binned once, then cached)."""
        return self.cache.get(i, lambda: self.transform(self.samples.events(i)))

    def events(self, i: int) -> np.ndarray:
        return self.samples.events(i)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.frames(int(i)).astype(np.float32)), self.y[i]

    def get_batch(self, idx, augment=None, g=None):
        x = torch.from_numpy(np.stack([self.frames(int(i)) for i in idx]).astype(np.float32))
        if augment is not None:  # one spatial augmentation per sample, the same at every time step
            B, T, P, H, W = x.shape
            x = augment(x.reshape(B, T * P, H, W), g).reshape(B, T, P, H, W)
        return x.transpose(0, 1).contiguous(), self.y[idx]


def frame_transform(info: EventDatasetInfo, T: int, bin_us: int, denoise_us: float | None) -> Compose:
    steps: list = [FromFirstEvent()] if info.from_first_event else []
    if denoise_us:
        steps.append(Denoise(denoise_us))
    steps.append(ToFrames(info.sensor_size, T, bin_us))
    return Compose(tuple(steps))


def _splits(info: EventDatasetInfo, cfg, T: int, train, y_train, test, y_test, seed: int = 0) -> DataSplits:
    """Hold out ``val_fraction`` of train (seeded, stratified) and wrap every split in an EventFrameDataset."""
    bin_us = int(round(cfg.bin_ms * 1000)) if cfg.bin_ms else info.duration_us // T
    denoise_us = cfg.denoise_ms * 1000 if cfg.denoise_ms else None
    transform = frame_transform(info, T, bin_us, denoise_us)
    w, h, p = info.sensor_size
    shape = (T, p, h, w)
    idx_tr, idx_va, y_tr, y_va = split_off(np.arange(len(y_train)), np.asarray(y_train), cfg.val_fraction, seed)

    def make(samples, labels, split):
        key = f"{info.name}|{split}|{samples.key}|{transform!r}"
        return EventFrameDataset(samples, labels, transform, shape, FrameCache(key, len(labels), shape, cfg.frame_cache))

    return DataSplits(info.name, make(_take(train, idx_tr), y_tr, "train"), make(_take(train, idx_va), y_va, "val"),
                      make(test, np.asarray(y_test), "test"), info.num_classes, [p, h, w], time_bins=T)


def _take(samples, index: np.ndarray):
    if isinstance(samples, ArraySamples):
        return ArraySamples(samples._events, samples._offsets, samples.index[index], samples.key.split(":")[0])
    return samples.subset(index)


# --------------------------------------------------------------------------------------------- the loaders

def load_saccade_digits(cfg, T: int, progress: bool = True) -> DataSplits:
    """``saccade-digits``: the digits split (20% test, seed 0) of the simulated recordings (generated on first
    use, with a progress bar when ``progress``, then cached)."""
    from neurokd.data.digits import SPLIT_SEED
    from neurokd.data.events.saccade import SaccadeConfig, generate

    scfg = SaccadeConfig()
    d = generate(scfg, progress=progress)
    y = d["labels"]
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    key = f"saccade-{scfg.key()}"
    train = ArraySamples(d["events"], d["offsets"], idx_tr, key)
    test = ArraySamples(d["events"], d["offsets"], idx_te, key)
    return _splits(INFO["saccade-digits"], cfg, T, train, y[idx_tr], test, y[idx_te], SPLIT_SEED)


def _root(cfg, name: str, layout: str) -> Path:
    if cfg.root is None:
        raise DatasetError(f"dataset '{name}': set data.root to the folder that holds {layout}")
    return Path(cfg.root)


def _sub(root: Path, folder: str, tonic_name: str) -> Path:
    """``root/folder``, or tonic's ``root/<DatasetClass>/folder`` when that exists."""
    return root / tonic_name / folder if (root / tonic_name / folder).is_dir() else root / folder


NMNIST_LAYOUT = "Train/<digit>/*.bin and Test/<digit>/*.bin"


def _scan_nmnist(folder: Path) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for d in range(10):
        files = sorted((folder / str(d)).glob("*.bin"))
        paths += files
        labels += [d] * len(files)
    return paths, labels


def load_nmnist(cfg, T: int) -> DataSplits:
    """N-MNIST from ``train.zip`` / ``test.zip`` extracted into ``data.root`` (``Train/0/00002.bin`` ...)."""
    root = _root(cfg, "nmnist", NMNIST_LAYOUT)
    info = INFO["nmnist"]
    found = {}
    for split, folder in (("train", "Train"), ("test", "Test")):
        paths, labels = _scan_nmnist(_sub(root, folder, "NMNIST"))
        if not paths:
            raise DatasetError(f"dataset 'nmnist': no {folder}/<digit>/*.bin under {root}; extract N-MNIST's "
                               f"train.zip and test.zip into {root} (giving {root}/Train/0/00002.bin ...)")
        found[split] = (FileSamples(paths, formats.read_nmnist_bin, info.sensor_size), labels)
    return _splits(info, cfg, T, *found["train"], *found["test"])


def load_dvsgesture(cfg, T: int) -> DataSplits:
    """DVS Gesture as tonic distributes it: ``ibmGestureTrain/userNN_<lighting>/<label>.npy`` (+ ``ibmGestureTest``)."""
    root = _root(cfg, "dvsgesture", "ibmGestureTrain/ and ibmGestureTest/")
    info = INFO["dvsgesture"]
    found = {}
    for split, folder in (("train", "ibmGestureTrain"), ("test", "ibmGestureTest")):
        base = _sub(root, folder, "DVSGesture")
        paths = sorted(p for p in base.glob("user*/*.npy") if p.stem.isdigit())
        if not paths:
            raise DatasetError(f"dataset 'dvsgesture': no {folder}/user*/<label>.npy under {root}; extract tonic's "
                               f"ibmGestureTrain.tar.gz and ibmGestureTest.tar.gz into {root}")
        labels = [int(p.stem) for p in paths]
        bad = [p for p, lbl in zip(paths, labels) if not 0 <= lbl < info.num_classes]
        if bad:
            raise DatasetError(f"dataset 'dvsgesture': {bad[0]} names label {bad[0].stem}, expected 0..10")
        found[split] = (FileSamples(paths, formats.read_gesture_npy, info.sensor_size), labels)
    return _splits(info, cfg, T, *found["train"], *found["test"])


CIFAR10DVS_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_cifar10dvs(cfg, T: int, seed: int = 0) -> DataSplits:
    """CIFAR10-DVS as tonic distributes it: ``<class>/*.aedat4``; seeded stratified 20% test split."""
    root = _root(cfg, "cifar10dvs", "<class>/*.aedat4 folders")
    info = INFO["cifar10dvs"]
    base = root / "CIFAR10DVS" if (root / "CIFAR10DVS").is_dir() else root
    paths, labels = [], []
    for i, c in enumerate(CIFAR10DVS_CLASSES):
        files = sorted((base / c).glob("*.aedat4"))
        paths += files
        labels += [i] * len(files)
    missing = [c for c in CIFAR10DVS_CLASSES if not (base / c).is_dir()]
    if missing or not paths:
        raise DatasetError(f"dataset 'cifar10dvs': missing {', '.join(missing) or 'aedat4 files'} under {base}; extract "
                           f"CIFAR10DVS.zip and its per-class zips into {root} (giving {root}/airplane/*.aedat4 ...)")
    idx = np.arange(len(paths))
    y = np.asarray(labels)
    idx_tr, idx_te, y_tr, y_te = split_off(idx, y, 0.2, seed)
    samples = FileSamples(paths, formats.read_aedat4, info.sensor_size)
    return _splits(info, cfg, T, samples.subset(idx_tr), y_tr, samples.subset(idx_te), y_te, seed)


LOADERS = {"saccade-digits": load_saccade_digits, "nmnist": load_nmnist, "dvsgesture": load_dvsgesture,
           "cifar10dvs": load_cifar10dvs}


def load(cfg, T: int | None = None, progress: bool = True) -> DataSplits:
    """Event dataset ``cfg.name`` binned into ``cfg.time_bins`` (else ``T``, else 10) frames per sample."""
    bins = cfg.time_bins or T or DEFAULT_TIME_BINS
    if cfg.name not in LOADERS:
        raise ConfigError(f"config key 'data.name': {cfg.name!r} is not an event dataset ({', '.join(LOADERS)})")
    if cfg.name == "saccade-digits":  # the one generated dataset: the others read files lazily
        return load_saccade_digits(cfg, bins, progress)
    return LOADERS[cfg.name](cfg, bins)
