"""What a model's inputs went through before training: stored in its model file, so whoever loads the model
knows what input it expects.

:func:`input_preprocessing` describes a dataset as loaded: the scaling of raw samples, the per-channel
normalization after it (``(x - mean) / std``, when the dataset applies one) and, for event data, how events were
binned into frames. :class:`InputPreprocessing` is that description, JSON round-trippable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from neurokd.data.base import DataSplits, Normalize

# How each dataset turns a raw sample into the values the model sees, before any normalization.
SCALING: dict[str, str] = {
    "digits": "pixel / 16: scikit-learn's 0..16 grey levels to [0, 1]",
    "mnist1d": "the mnist1d generator's float signal as is (no scaling)",
    "cifar10": "uint8 pixel / 255 to [0, 1]",
    "cifar100": "uint8 pixel / 255 to [0, 1]",
    "imagefolder": "RGB uint8 pixel / 255 to [0, 1] (resized bilinearly to data.image_size when set)",
}
EVENT_SCALING = "event counts per polarity, pixel and time bin (no scaling); time-major frames [T, B, P, H, W]"


@dataclass(frozen=True)
class InputPreprocessing:
    """The input a model was trained on. ``mean``/``std``: per-channel normalization after ``scaling`` (None:
    none). Event data: ``time_bins`` frames of ``bin_ms`` each per recording (clock from the first event when
    ``from_first_event``), after tonic's denoise filter when ``denoise_ms`` is set; ``sensor_size`` (W, H, P)."""

    dataset: str
    input_shape: list[int]
    scaling: str
    mean: list[float] | None = None
    std: list[float] | None = None
    time_bins: int | None = None
    bin_ms: float | None = None
    denoise_ms: float | None = None
    sensor_size: list[int] | None = None
    from_first_event: bool | None = None

    def normalize(self) -> Normalize | None:
        """The normalization to apply after scaling (None when the dataset applies none)."""
        return None if self.mean is None or self.std is None else Normalize(tuple(self.mean), tuple(self.std))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputPreprocessing:
        """Validated; keys this version does not know (a newer writer's) are ignored."""
        from neurokd.configlib import parse_dataclass
        from neurokd.errors import ConfigError

        fields = dataclasses.fields(cls)
        missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ConfigError(f"preprocessing: missing {', '.join(missing)}")
        known = {f.name for f in fields}
        return parse_dataclass(cls, {k: v for k, v in data.items() if k in known}, "preprocessing")


def input_preprocessing(splits: DataSplits, cfg) -> InputPreprocessing:
    """The preprocessing of ``splits`` as loaded with data config ``cfg`` (a :class:`neurokd.config.DataConfig`)."""
    norm = splits.normalize
    common = {"dataset": splits.name, "input_shape": list(splits.input_shape),
              "mean": None if norm is None else list(norm.mean), "std": None if norm is None else list(norm.std)}
    if splits.time_bins is None:
        return InputPreprocessing(scaling=SCALING.get(splits.name, "as loaded (no scaling)"), **common)
    from neurokd.data.events import INFO

    info = INFO[splits.name]
    bin_us = int(round(cfg.bin_ms * 1000)) if cfg.bin_ms else info.duration_us // splits.time_bins  # as binned
    bin_ms = bin_us / 1000
    return InputPreprocessing(scaling=EVENT_SCALING, time_bins=splits.time_bins, bin_ms=bin_ms,
                              denoise_ms=cfg.denoise_ms, sensor_size=list(info.sensor_size),
                              from_first_event=info.from_first_event, **common)


__all__ = ["EVENT_SCALING", "SCALING", "InputPreprocessing", "input_preprocessing"]
