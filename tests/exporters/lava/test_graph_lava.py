"""Residual graphs on Lava's own fixed-point simulator (the process network of ``graph_processes``) against the
NumPy model, spike for spike: a hand-made graph exercising every kind of projection at every physical step, and
exported resnet20 / resnet1d on test samples."""

import numpy as np
import pytest

from neurokd.exporters.lava import compat, numpy_sim, simulate
from neurokd.exporters.lava.graph import INPUT, LavaGraph, Population, Projection
from neurokd.exporters.lava.netx import Cuba
from neurokd.exporters.lava.simulation import RESET_OFFSET

from .test_graph import active_model

pytestmark = pytest.mark.skipif(not compat.lava_available(), reason="lava-nc/lava-dl not installed (make setup)")


def mixed_graph(seed: int = 0) -> LavaGraph:
    """input (2,5,4) -> a -> b -> c <- (a, delay 1) <- (input, delay 2, graded); c -> d (dense, flat);
    readout <- d + (c, delay 1, dense from a map). Mixed-sign, one-sign, exponent and delayed projections."""
    rng = np.random.default_rng(seed)
    pops = [
        Population("a", (3, 5, 4), Cuba(4096, 1024, 300), rng.integers(-20, 40, 3)),
        Population("b", (3, 5, 4), Cuba(4096, 2048, 200)),
        Population("c", (3, 3, 2), Cuba(2048, 512, 250), rng.integers(-30, 30, 3)),
        Population("d", (7,), Cuba(4096, 100, 120), rng.integers(-10, 30, 7)),
        Population("readout", (4,), Cuba(4096, 0, (1 << 17) - 1), rng.integers(-9, 9, 4)),
    ]
    conv = {"stride": (1, 1), "padding": (1, 1)}
    projs = [
        Projection("in_a", INPUT, "a", rng.integers(-60, 60, (3, 2, 3, 3)), **conv),
        Projection("a_b", "a", "b", rng.integers(-100, 120, (3, 3, 3, 3)), weight_exp=1, **conv),
        Projection("b_c", "b", "c", rng.integers(-127, 127, (3, 3, 3, 3)), stride=(2, 2), padding=(1, 1)),
        Projection("a_c", "a", "c", rng.integers(0, 90, (3, 1, 1, 1)), weight_exp=2, delay=1, stride=(2, 2),
                   groups=3),
        Projection("in_c", INPUT, "c", rng.integers(-30, 30, (3, 2, 1, 1)), delay=2, stride=(2, 2)),
        Projection("c_d", "c", "d", rng.integers(-127, 127, (7, 18))),
        Projection("d_out", "d", "readout", rng.integers(-127, 127, (4, 7)), weight_exp=1),
        Projection("c_out", "c", "readout", -rng.integers(0, 100, (4, 18)), delay=1),
    ]
    return LavaGraph((2, 5, 4), pops, projs, {"T": 4})


def run_graph(*args, **kwargs):
    from neurokd.exporters.lava.lava_run import run_lava_graph

    return run_lava_graph(*args, **kwargs)


@pytest.mark.slow
def test_lava_process_network_equals_the_numpy_model_step_for_step():
    graph = mixed_graph()
    T = 4
    assert graph.depths() == [1, 2, 3, 4, 5]
    rng = np.random.default_rng(5)
    stream = np.concatenate([rng.integers(0, 16, (3 * T, 2, 5, 4)), np.zeros((5, 2, 5, 4), np.int64)])
    lava = run_graph(graph, stream, input_message_bits=8, reset_interval=T, reset_offset=RESET_OFFSET)
    ours = numpy_sim.run(graph, stream[None], reset_interval=T, reset_offset=RESET_OFFSET)
    assert min(int(s.sum()) for s in ours.spikes[:-1]) > 10  # every hidden population is active
    for pop, a, b in zip(graph.populations, lava.spikes, ours.spikes):
        assert np.array_equal(a, b), f"{pop.name}: {int((a != b).sum())} spikes differ"
    assert np.array_equal(lava.v_last, ours.v_last)
    assert lava.timing["run_steps"] == len(stream) - 1


@pytest.mark.slow
@pytest.mark.parametrize("arch, dataset", [("resnet20", "digits"), ("resnet1d", "mnist1d")])
def test_exported_resnets_run_on_lava_spike_for_spike(arch, dataset, tmp_path):
    from neurokd.config import DataConfig
    from neurokd.data import load_dataset
    from neurokd.exporters.lava.export import to_lava

    splits = load_dataset(DataConfig(name=dataset, num_samples=1000 if dataset == "mnist1d" else None))
    path = tmp_path / f"{arch}.lava"
    _report, form = to_lava(active_model(arch), path, calibration=splits.train.x)
    x = splits.test.x[:2].numpy()
    lava = simulate(path, x, backend="lava", record_spikes=True)
    ours = simulate(path, x, backend="numpy", record_spikes=True)
    assert form == "graph" and lava.latency == ours.latency == len(lava.layer_names)
    assert np.array_equal(lava.v_out, ours.v_out) and np.array_equal(lava.spike_counts, ours.spike_counts)
    assert all(np.array_equal(a, b) for a, b in zip(lava.spikes, ours.spikes))
    assert (ours.spike_counts[:, :-1] > 0).all()  # every spiking population fires on both samples
    assert lava.steps_per_s > 0
