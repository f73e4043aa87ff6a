"""``saccade-digits``: an event-camera dataset recorded, in simulation, the way N-MNIST was.

N-MNIST (Orchard et al., 2015) was recorded by a DVS camera making three saccades over MNIST digits shown on
a monitor. Here scikit-learn's 8x8 digits are upsampled to ``digit_px`` pixels and a virtual camera moves
over them along N-MNIST's triangular three-saccade path (each saccade ``saccade_ms`` long) on an N-MNIST-sized
34x34 sensor. Every pixel is a DVS pixel model, simulated in ``dt_us`` steps:

- it tracks log intensity ``L = log(floor + (1 - floor) * I)`` against a reference ``L_ref``;
- when ``|L - L_ref|`` reaches its contrast threshold (``contrast`` with per-pixel mismatch
  ``contrast_sigma``) it emits an ON/OFF event and moves ``L_ref`` one threshold towards ``L``; the event time
  is the linearly interpolated threshold crossing inside the step;
- after an event the pixel is blind for ``refractory_us``;
- background activity: each pixel also fires Poisson noise events at ``noise_hz`` with random polarity.

Everything draws from one seeded generator, so a seed fixes the dataset. Output: tonic-style structured
``(x, y, t, p)`` arrays (t in microseconds from the start of the recording), stored as one concatenated array
plus per-sample offsets; generation is vectorised over all samples and cached as ``.npz``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from neurokd.data.cache import cached_arrays
from neurokd.data.events.core import EVENT_DTYPE, make_events

GENERATOR_VERSION = 1  # bump when the simulation changes: it is part of the cache key
SENSOR_SIZE = (34, 34, 2)  # N-MNIST's sensor


@dataclass(frozen=True)
class SaccadeConfig:
    """Parameters of the simulated recording (defaults: the registered ``saccade-digits`` dataset)."""

    digit_px: int = 28
    # N-MNIST's saccade triangle (sensor pixels), scaled so a 28-px digit stays on the 34-px sensor
    path: tuple[tuple[float, float], ...] = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0))
    saccade_ms: float = 100.0
    dt_us: int = 1000
    contrast: float = 0.4
    contrast_sigma: float = 0.03
    refractory_us: int = 1000
    noise_hz: float = 0.2
    floor: float = 0.1
    seed: int = 0

    @property
    def duration_us(self) -> int:
        return int(round(self.saccade_ms * 1000)) * (len(self.path) - 1)

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


def upsample_digits(images: np.ndarray, size: int) -> np.ndarray:
    """``[N, 8, 8]`` in [0, 1] -> ``[N, size, size]`` by bilinear interpolation (pixel centres aligned)."""
    n, h, w = images.shape
    ys = (np.arange(size) + 0.5) * h / size - 0.5
    xs = (np.arange(size) + 0.5) * w / size - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy = np.clip(ys - y0, 0, 1)[None, :, None]
    fx = np.clip(xs - x0, 0, 1)[None, None, :]
    top = images[:, y0][:, :, x0] * (1 - fx) + images[:, y0][:, :, x1] * fx
    bot = images[:, y1][:, :, x0] * (1 - fx) + images[:, y1][:, :, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def camera_offsets(cfg: SaccadeConfig) -> np.ndarray:
    """Camera displacement ``(dx, dy)`` in pixels at every simulation step ``k * dt_us``, ``[K+1, 2]``."""
    steps_per = int(round(cfg.saccade_ms * 1000 / cfg.dt_us))
    pts = np.asarray(cfg.path, dtype=np.float64)
    segs = [pts[i] + (pts[i + 1] - pts[i]) * (np.arange(steps_per) / steps_per)[:, None] for i in range(len(pts) - 1)]
    return np.concatenate(segs + [pts[-1:]])


def _render(canvas: np.ndarray, dx: float, dy: float, h: int, w: int, pad: int) -> np.ndarray:
    """Sensor image when the scene is shifted by ``(dx, dy)``: bilinear sampling of the padded canvas."""
    ix, iy = int(np.floor(dx)), int(np.floor(dy))
    fx, fy = dx - ix, dy - iy
    # sensor pixel (x, y) sees scene point (x - dx, y - dy) = canvas index (x - dx + pad)
    ox, oy = pad - ix, pad - iy
    a = canvas[:, oy:oy + h, ox:ox + w]
    b = canvas[:, oy:oy + h, ox - 1:ox - 1 + w]
    c = canvas[:, oy - 1:oy - 1 + h, ox:ox + w]
    d = canvas[:, oy - 1:oy - 1 + h, ox - 1:ox - 1 + w]
    return (a * (1 - fx) * (1 - fy) + b * fx * (1 - fy) + c * (1 - fx) * fy + d * fx * fy).astype(np.float32)


CHUNK = 64  # samples simulated together: keeps the per-step arrays in cache (3x faster than all at once)


def _simulate_chunk(canvas: np.ndarray, threshold: np.ndarray, offsets: np.ndarray, cfg: SaccadeConfig,
                    pad: int, first: int) -> list[tuple[np.ndarray, ...]]:
    """Threshold-crossing events of one chunk of samples, one ``(sample, x, y, t, p)`` tuple per step."""
    n, (w, h, _) = len(canvas), SENSOR_SIZE
    floor = np.float32(cfg.floor)

    def log_intensity(img):
        return np.log(floor + (1 - floor) * img)

    L_prev = log_intensity(_render(canvas, *offsets[0], h, w, pad))
    L_ref = L_prev.copy()
    last_t = np.full((n, h, w), -(1 << 40), dtype=np.int64)
    out = []
    for k in range(1, len(offsets)):
        L = log_intensity(_render(canvas, *offsets[k], h, w, pad))
        diff = L - L_ref
        up = diff >= threshold
        t_step = k * cfg.dt_us
        cand = (up | (diff <= -threshold)) & (t_step - last_t >= cfg.refractory_us)
        if cand.any():
            b, y, x = np.nonzero(cand)
            sign = np.where(up[b, y, x], np.float32(1), np.float32(-1))
            level = L_ref[b, y, x] + sign * threshold[b, y, x]
            lp, lc = L_prev[b, y, x], L[b, y, x]
            frac = np.clip((level - lp) / np.where(lc != lp, lc - lp, 1), 0, 1)
            t = (t_step - cfg.dt_us) + np.round(frac * cfg.dt_us).astype(np.int64)
            t = np.minimum(np.maximum(t, last_t[b, y, x] + cfg.refractory_us), cfg.duration_us - 1)
            L_ref[b, y, x] = level
            last_t[b, y, x] = t
            out.append((b + first, x, y, t, (sign > 0).astype(np.int8)))
        L_prev = L
    return out


def simulate(images: np.ndarray, cfg: SaccadeConfig, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """DVS recordings of ``images`` (``[N, 8, 8]`` in [0, 1]): ``(events, offsets)``.

    ``events`` is one structured array, sample ``i`` being ``events[offsets[i]:offsets[i+1]]`` (time-sorted).
    """
    from neurokd.progress import bar

    rng = np.random.default_rng(cfg.seed)
    w, h, _ = SENSOR_SIZE
    n = len(images)
    digits = upsample_digits(images.astype(np.float32), cfg.digit_px)
    pad = 2 + int(np.ceil(np.abs(np.asarray(cfg.path)).max()))
    canvas = np.zeros((n, h + 2 * pad, w + 2 * pad), dtype=np.float32)
    top = pad + (h - cfg.digit_px) // 2 - int(round(np.mean([p[1] for p in cfg.path])))
    left = pad + (w - cfg.digit_px) // 2 - int(round(np.mean([p[0] for p in cfg.path])))
    canvas[:, top:top + cfg.digit_px, left:left + cfg.digit_px] = digits
    threshold = (cfg.contrast * (1 + cfg.contrast_sigma * rng.standard_normal((n, h, w)))).astype(np.float32)
    threshold = np.maximum(threshold, np.float32(0.01))
    offsets = camera_offsets(cfg)
    steps: list[tuple[np.ndarray, ...]] = []
    for lo in bar(range(0, n, CHUNK), desc="saccade-digits", enabled=progress):
        steps += _simulate_chunk(canvas[lo:lo + CHUNK], threshold[lo:lo + CHUNK], offsets, cfg, pad, lo)
    empty = (np.zeros(0, np.int64),) * 4 + (np.zeros(0, np.int8),)
    b, x, y, t, p = (np.concatenate(c) for c in zip(*steps)) if steps else empty
    # background activity: Poisson events per pixel, uniform in time, random polarity
    n_noise = rng.poisson(cfg.noise_hz * w * h * cfg.duration_us * 1e-6, size=n)
    total = int(n_noise.sum())
    b = np.concatenate([b, np.repeat(np.arange(n), n_noise)])
    x = np.concatenate([x, rng.integers(0, w, total)])
    y = np.concatenate([y, rng.integers(0, h, total)])
    t = np.concatenate([t, rng.integers(0, cfg.duration_us, total)])
    p = np.concatenate([p, rng.integers(0, 2, total).astype(np.int8)])
    order = np.lexsort((x, y, t, b))
    events = make_events(x[order], y[order], t[order], p[order])
    offsets_out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(b, minlength=n), out=offsets_out[1:])
    return events, offsets_out


def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data.astype(np.float32) / 16.0).reshape(-1, 8, 8), bunch.target.astype(np.int64)


def generate(cfg: SaccadeConfig = SaccadeConfig(), progress: bool = False) -> dict[str, np.ndarray]:
    """All 1797 digits as event recordings: ``{"events", "offsets", "labels"}``, cached by config."""

    def make() -> dict[str, np.ndarray]:
        images, labels = _digit_images()
        events, offsets = simulate(images, cfg, progress)
        return {"events": events, "offsets": offsets, "labels": labels}

    def valid(d: dict[str, np.ndarray]) -> bool:
        return d["events"].dtype == EVENT_DTYPE and len(d["offsets"]) == len(d["labels"]) + 1

    return cached_arrays(f"saccade_digits_{cfg.key()}", ("events", "offsets", "labels"), make, valid)
