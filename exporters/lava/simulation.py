"""``simulate(path, inputs, backend)``: run an exported ``.net`` or ``.lava`` file on float inputs, NumPy or Lava.

Both backends produce a physical-time :class:`~neurokd.exporters.lava.numpy_sim.Trace`; this module encodes the inputs
the way the file says (``encoder``, ``input_scale``), runs the backend, and aligns the latency so results are
in the SNN's own time steps:

- A population at depth ``d`` (layer ``i`` of a chain: ``d = 1 + i``; see :mod:`~neurokd.exporters.lava.graph`)
  processes step ``k`` of a sample at physical step ``p = 1 + d + k`` (the source sends frame ``k`` at
  ``p = k + 1``; each projection adds one step, plus its delay). Every population is reset at the start of its
  own window (``reset_interval = T``, ``reset_offset = 1``, which netx turns into a per-layer phase ``1 + d``),
  so samples can be streamed back to back through Lava with no idle steps, and a sample's result equals a fresh
  run on that sample alone.
- The readout (the last population's membrane) is read at the end of its window, ``p = T + L`` for the first
  sample (latency ``L``: the readout's depth), and decoded to the time-mean of the float logits:
  ``v / (64 * readout_scale * T)``.

The NumPy model runs samples side by side in a batch (each from a fresh state over ``T + L`` steps); Lava runs
one stream of ``N * T + L`` steps through one network (its start-up costs seconds, so keep ``N`` modest).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurokd.errors import UserError
from neurokd.exporters.lava import numpy_sim
from neurokd.exporters.lava.files import read_lava
from neurokd.exporters.lava.graph import LavaGraph
from neurokd.exporters.lava.netx import NetxFormatError, NetxNetwork

BACKENDS = ("numpy", "lava")
RESET_OFFSET = 1  # netx adds 1 + layer index: layer i resets at p = 2 + i (mod T), its window start


@dataclass
class SimResult:
    """Aligned results for ``N`` samples.

    ``logits``: ``[N, K]`` fixed-point readout decoded to float units (the SNN's time-mean logits);
    ``v_out``: ``[N, K]`` raw readout membranes (integers, ``<< 6`` units); ``spike_counts``: ``[N, L]``
    spikes per sample in each population (netx: conv/dense layer); ``spikes``: per population ``[N, T, *shape]``
    bool (when recorded); ``latency``: steps from an input frame to the readout.
    """

    backend: str
    logits: np.ndarray
    v_out: np.ndarray
    spike_counts: np.ndarray
    spikes: list[np.ndarray] | None
    layer_names: list[str]
    layer_sizes: list[int]
    T: int
    seconds: float
    latency: int

    @property
    def n(self) -> int:
        return int(self.logits.shape[0])

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(1)

    @property
    def steps_per_s(self) -> float:
        """Sample time steps simulated per second (``N * T / seconds``)."""
        return self.n * self.T / self.seconds if self.seconds > 0 else float("inf")

    def accuracy(self, labels: np.ndarray) -> float:
        return float((self.predictions == np.asarray(labels)).mean())

    def spikes_per_sample(self) -> list[float]:
        """Mean spikes per sample in each layer (all T steps)."""
        return [float(c) for c in self.spike_counts.mean(0)]

    def firing_rates(self) -> list[float]:
        """Mean spikes per neuron per time step in each layer."""
        return [c / (s * self.T) for c, s in zip(self.spikes_per_sample(), self.layer_sizes)]


def _meta(net: NetxNetwork | LavaGraph, path: Path) -> dict:
    need = ("T", "encoder", "input_scale", "readout_scale", "model_input_shape")
    missing = [k for k in need if k not in net.meta]
    if missing:
        raise NetxFormatError(f"{path}: not written by neurokd (no {', '.join(missing)} metadata), so the input "
                              "encoding and readout are unknown; run raw integer streams with "
                              "neurokd.exporters.lava.numpy_sim.run or neurokd.exporters.lava.lava_run.run_lava")
    return net.meta


def encode_inputs(net: NetxNetwork | LavaGraph, inputs: np.ndarray, seed: int = 0) -> np.ndarray:
    """Float inputs -> integer frames ``[N, T, *net_input_shape]`` as the file's input layer expects them.

    ``inputs``: static ``[N, *input_shape]`` (repeated over T / Poisson-sampled per step) or a time-major
    sequence ``[T, N, *input_shape]``.
    """
    meta = net.meta
    T = int(meta["T"])
    shape = tuple(meta["model_input_shape"])
    x = np.asarray(inputs, dtype=np.float64)
    if x.shape[1:] == shape:
        seq = np.broadcast_to(x[:, None], (x.shape[0], T, *shape))
    elif x.ndim == len(shape) + 2 and x.shape[2:] == shape:
        if x.shape[0] != T:
            raise UserError(f"input sequence has {x.shape[0]} steps but the network runs T={T}")
        seq = x.swapaxes(0, 1)
    else:
        raise UserError(f"inputs of shape {list(x.shape)} do not fit the network input [N, {', '.join(map(str, shape))}]"
                        f" (or [T={T}, N, ...])")
    if not np.all(np.isfinite(seq)):
        raise UserError("inputs hold NaN/inf")
    return quantize_input(meta, seq.reshape(seq.shape[0], T, *tuple(net.input_shape)), np.random.default_rng(seed))


def quantize_input(meta: dict, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Float input frames (any leading dims) -> the integers the input layer sends: Poisson spikes, or the
    direct-encoded value ``round(x * input_scale)`` clipped to the file's input levels."""
    if meta["encoder"] == "poisson":
        return (rng.random(x.shape) < np.clip(x, 0.0, 1.0)).astype(np.int64)
    levels = int(meta.get("input_levels", 255))
    lo = -levels if meta.get("input_signed", True) else 0
    return np.clip(np.rint(x * float(meta["input_scale"])), lo, levels).astype(np.int64)


def _align(trace: numpy_sim.Trace, depths: list[int], n: int, T: int, streamed: bool, record: bool):
    """Per-sample windows of a physical trace (see module doc); ``streamed``: samples follow each other in
    time in batch element 0 (Lava), else each batch element is one sample starting at step 1 (NumPy)."""
    start = np.arange(n) * T if streamed else np.zeros(n, int)
    batch = np.zeros(n, int) if streamed else np.arange(n)
    steps = start[:, None] + np.arange(T)[None]  # [n, T]
    spikes, counts = [], np.zeros((n, len(depths)), np.int64)
    for i, (s, d) in enumerate(zip(trace.spikes, depths)):
        win = s[batch[:, None], d + steps]  # [n, T, *shape]
        counts[:, i] = win.reshape(n, -1).sum(1)
        if record:
            spikes.append(win)
    v_out = trace.v_last[batch, start + T + depths[-1] - 1]
    return v_out, counts, (spikes if record else None)


def simulate(path: str | Path, inputs: np.ndarray, backend: str = "numpy", batch_size: int = 128,
             record_spikes: bool = False, progress: bool = False, seed: int = 0) -> SimResult:
    """Run the neurokd ``.net`` or ``.lava`` file at ``path`` on ``inputs`` (see :func:`encode_inputs`).

    ``backend="numpy"``: the bit-accurate NumPy model (no Lava needed), ``batch_size`` samples at a time.
    ``backend="lava"``: Lava's fixed-point CPU simulator, all samples in one stream: lava-dl's netx loader for a
    ``.net`` file, the process network of :mod:`~neurokd.exporters.lava.graph_processes` for a ``.lava`` graph.
    """
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    path = Path(path)
    net = read_lava(path)
    meta = _meta(net, path)
    T = int(meta["T"])
    frames = encode_inputs(net, inputs, seed)
    n = frames.shape[0]
    graph = numpy_sim.as_graph(net)
    depths = graph.depths()
    L = depths[-1]
    t0 = time.perf_counter()
    if backend == "numpy":
        from neurokd.progress import bar

        parts = []
        for lo in bar(range(0, n, batch_size), desc="numpy sim", unit="batch", enabled=progress):
            chunk = frames[lo:lo + batch_size]
            stream = np.concatenate([chunk, np.zeros((chunk.shape[0], L, *chunk.shape[2:]), np.int64)], 1)
            trace = numpy_sim.run(graph, stream, reset_interval=T, reset_offset=RESET_OFFSET)
            parts.append(_align(trace, depths, chunk.shape[0], T, False, record_spikes))
        v_out = np.concatenate([p[0] for p in parts])
        counts = np.concatenate([p[1] for p in parts])
        spikes = [np.concatenate([p[2][i] for p in parts]) for i in range(len(depths))] if record_spikes else None
    else:
        from neurokd.exporters.lava.lava_run import run_lava, run_lava_graph

        stream = np.concatenate([frames.reshape(n * T, *frames.shape[2:]),
                                 np.zeros((L, *frames.shape[2:]), np.int64)])
        bits = int(meta.get("input_message_bits", 0))
        trace = (run_lava_graph(net, stream, bits, T, RESET_OFFSET, progress) if isinstance(net, LavaGraph)
                 else run_lava(path, stream, bits, T, RESET_OFFSET, progress))
        v_out, counts, spikes = _align(trace, depths, n, T, True, record_spikes)
    seconds = time.perf_counter() - t0
    logits = v_out / (float(1 << numpy_sim.SHIFT) * float(meta["readout_scale"]) * T)
    names = [p.name for p in graph.populations]
    sizes = [p.size for p in graph.populations]
    return SimResult(backend, logits, v_out, counts, spikes, names, sizes, T, seconds, L)
