"""Run a network on Lava's CPU simulator: a ``.net`` file with lava-dl's own loader (``netx.hdf5.Network``), a
residual :class:`~neurokd.exporters.lava.graph.LavaGraph` as the process network
:mod:`~neurokd.exporters.lava.graph_processes` builds.

The network runs on ``Loihi2SimCfg(select_tag="fixed_pt")`` (the only configuration netx's block models
support). A ``RingBuffer`` source streams the integer input frames (graded spikes when the input has message
bits); a ``RingBuffer`` sink on every layer's (population's) output port records its spikes and a ``Monitor``
records the last layer's membrane ``v`` (the readout of a non-spiking output layer). Returns the same physical-time
:class:`~neurokd.exporters.lava.numpy_sim.Trace` as the NumPy model, so callers align latency once for both.

Lava's ports are (W, H, C) ("x, y, f"): frames are transposed from (C, H, W) on the way in and back on the way
out. Lava starts worker processes per process model (``fork``; see :mod:`neurokd.exporters.lava.compat`), so one run
costs seconds of start-up: stream many samples through one run rather than one run per sample.
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import numpy as np

from neurokd.exporters.lava import compat
from neurokd.exporters.lava.graph import LavaGraph
from neurokd.exporters.lava.numpy_sim import Trace


def _child_errors(net) -> str:
    """The exceptions Lava's worker processes raised (Lava itself only logs them)."""
    try:
        actors = net._runtime._messaging_infrastructure.actors
        return "; ".join(str(a.exception[1]).strip().splitlines()[-1] for a in actors if a.exception)
    except Exception:  # noqa: BLE001 - best effort: Lava internals
        return ""


def _abort(net) -> None:
    """Tear a failed run down without Lava's ``stop()``, which waits forever for workers that already exited."""
    runtime = getattr(net, "_runtime", None)
    infra = getattr(runtime, "_messaging_infrastructure", None)
    if infra is None:
        return
    for actor in getattr(infra, "actors", []):
        try:
            if actor.is_alive():
                actor.terminate()
            actor.join(timeout=5)
        except ValueError:  # already joined and closed by Lava's error handling
            pass
    smm = getattr(infra, "smm", None)
    if smm is not None:
        # a manager that never started (its own fork failed) has nothing to release and no shutdown to call
        with contextlib.suppress(AttributeError):
            smm.shutdown()
    # Runtime.__del__ calls stop() itself; on a runtime still marked started that would write into the shared
    # memory just released and segfault at garbage collection (_detach_runtime covers the processes' __del__)
    runtime._is_running = False
    runtime._is_started = False


def _detach_runtime(net) -> None:
    """Unhook the (stopped) runtime from every process of the run.

    Every Lava process calls ``runtime.stop()`` from ``__del__``. A runtime whose shared memory is already gone
    but which still counts itself started then writes into unmapped memory and segfaults the interpreter at
    the next garbage collection (seen at pytest's exit, after a failed run's teardown). With no runtime
    attached, ``__del__`` does nothing.
    """
    runtime = getattr(net, "_runtime", None)
    executable = getattr(runtime, "_executable", None)
    if executable is not None:
        executable.assign_runtime_to_all_processes(None)
    net.runtime = None  # the process run() was called on holds it too (it is not in the leaf list)


def _run(root, sources: list, monitor_target, steps: int, progress: bool, chunk_steps: int) -> Trace:
    """Run the connected process network that ``root`` belongs to for ``steps`` steps, recording the out-ports
    in ``sources`` (one ``RingBuffer`` sink each) and the ``v`` of ``monitor_target``; tear it down either way."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io as lava_io
    from lava.proc.monitor.process import Monitor

    from neurokd.progress import bar

    sinks = []
    for port in sources:
        sink = lava_io.sink.RingBuffer(shape=port.shape, buffer=steps)
        port.connect(sink.a_in)
        sinks.append(sink)
    monitor = Monitor()
    monitor.probe(monitor_target.v, steps)
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    t_first = time.perf_counter()
    failed = True
    try:
        with bar(total=steps, desc="lava sim", unit="step", enabled=progress) as pbar:
            done = 0
            while done < steps:
                # the first call compiles the network and starts the workers: run it as a single step
                k = 1 if done == 0 else min(chunk_steps, steps - done)
                try:
                    root.run(condition=RunSteps(num_steps=k), run_cfg=cfg)
                except RuntimeError as e:
                    raise RuntimeError(f"Lava run failed: {_child_errors(root) or e}") from None
                done += k
                pbar.update(k)
                if done == 1:
                    t_first = time.perf_counter()
        t_run = time.perf_counter()
        spikes = [s.data.get().T.astype(bool)[None] for s in sinks]  # [W, H, C, P] -> [1, P, C, H, W]
        recorded = monitor.get_data()  # {process name: {var name: [P, *shape]}}
        v_last = next(iter(next(iter(recorded.values())).values()))
        failed = False
    finally:
        try:
            if failed:
                _abort(root)
            else:
                root.stop()
        finally:
            _detach_runtime(root)
    v_last = np.rint(np.asarray(v_last)).astype(np.int64)
    if v_last.ndim == 4:  # [P, W, H, C] -> [P, C, H, W]
        v_last = v_last.transpose(0, 3, 2, 1)
    return Trace(spikes, v_last.reshape(1, steps, -1), {"run_s": t_run - t_first, "run_steps": steps - 1,
                                                        "startup_end": t_first})


def _source(stream: np.ndarray, shape: tuple[int, ...]):
    """A ``RingBuffer`` source sending ``stream`` ``[P, *shape]`` ((C, H, W) frames) in Lava's (W, H, C) order."""
    from lava.proc import io as lava_io

    data = np.ascontiguousarray(stream.astype(np.int32).T)  # [P, C, H, W] -> Lava's [W, H, C, P]
    if tuple(data.shape[:-1]) != tuple(shape):
        raise ValueError(f"input frames {list(stream.shape[1:])} do not fit the network input {list(shape)} "
                         "(W, H, C)")
    return lava_io.source.RingBuffer(data=data)


def _timing(trace: Trace, t0: float, t_build: float) -> Trace:
    end = trace.timing.pop("startup_end")
    trace.timing.update({"build_s": t_build - t0, "startup_s": end - t_build})
    return trace


def run_lava(path: str | Path, stream: np.ndarray, input_message_bits: int = 0,
             reset_interval: int | None = None, reset_offset: int = 0, progress: bool = False,
             chunk_steps: int = 64, input_shape: tuple[int, ...] | None = None) -> Trace:
    """Run the netx file on ``stream`` ``[P, *input_shape]`` (integer frames, one per Lava time step).

    Returns a :class:`Trace` with batch size 1: ``spikes[i]`` ``[1, P, *shape_i]`` per layer and ``v_last``
    ``[1, P, N]`` (the last layer's membrane after each step, in ``<< 6`` units), and ``timing``: seconds to
    build the processes, to compile/start them (the first step), and to run the remaining steps. The run
    advances ``chunk_steps`` at a time to drive a progress bar; Lava keeps its state between chunks. ``input_shape``
    (C, H, W) is only needed when the file starts with a conv layer and has no 'input' layer.
    """
    compat.install()
    from lava.lib.dl import netx

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # netx prints weight-optimisation notes
        net = netx.hdf5.Network(net_config=str(path), input_message_bits=input_message_bits,
                                reset_interval=reset_interval, reset_offset=reset_offset,
                                input_shape=None if input_shape is None else tuple(input_shape)[::-1])
    src = _source(stream, net.inp.shape)
    src.s_out.connect(net.inp)
    t_build = time.perf_counter()
    trace = _run(net, [layer.out for layer in net.layers], net.layers[-1].neuron, stream.shape[0], progress,
                 chunk_steps)
    return _timing(trace, t0, t_build)


def run_lava_graph(graph: LavaGraph, stream: np.ndarray, input_message_bits: int = 0,
                   reset_interval: int | None = None, reset_offset: int = 0, progress: bool = False,
                   chunk_steps: int = 64) -> Trace:
    """Run a residual graph as a Lava process network (:mod:`~neurokd.exporters.lava.graph_processes`) on
    ``stream`` ``[P, *input_shape]``; returns the same :class:`Trace` as :func:`run_lava`, one spike record per
    population."""
    compat.install()
    from neurokd.exporters.lava.graph_processes import build_processes, connect_input, whc

    t0 = time.perf_counter()
    procs = build_processes(graph, input_message_bits, reset_interval, reset_offset)
    src = _source(stream, whc(tuple(graph.input_shape)))
    connect_input(procs, src.s_out, tuple(graph.input_shape))
    t_build = time.perf_counter()
    trace = _run(src, [n.s_out for n in procs.neurons], procs.neurons[-1], stream.shape[0], progress, chunk_steps)
    return _timing(trace, t0, t_build)
