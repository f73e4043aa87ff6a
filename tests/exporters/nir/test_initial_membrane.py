"""Neurons that start from a nonzero membrane and per-layer thresholds (ANN-to-SNN conversion) through NIR."""

import pytest
import torch

from neurokd.exporters.nir import from_nir, to_nir
from neurokd.exporters.nir.files import save
from neurokd.exporters.nir.verify import calibrate_activity, compare_spikes
from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.models.thresholds import spiking_layer_names


@pytest.mark.parametrize("arch,shape", [("cnn", [1, 8, 8]), ("resnet1d", [1, 40])])
def test_initial_membrane_and_thresholds_survive_a_round_trip(tmp_path, arch, shape):
    layers = {"cnn": 3, "resnet1d": 17}[arch]
    neuron = NeuronSpec(type="if", reset="subtract", initial_membrane=0.5,
                        thresholds=[0.8 + 0.05 * i for i in range(layers)])
    model = build_model(ModelSpec(arch=arch, T=6, width=8, num_classes=5, input_shape=shape, neuron=neuron))
    x = torch.rand(16, *shape, generator=torch.Generator().manual_seed(0))
    calibrate_activity(model, x)
    with pytest.warns(UserWarning, match=f"start {layers} neuron layers at 0 instead of their v_init"):
        graph = to_nir(model)
    names = spiking_layer_names(model)
    meta = graph.nodes[names[1].replace(".", "_")].metadata
    assert meta["v_init"] == 0.5 * meta["threshold"] == 0.5 * neuron.thresholds[1] and meta["reset"] == "subtract"
    path = save(graph, tmp_path / "m.nir")
    net = from_nir(path)
    assert [m.v_init for m in net.neurons().values()] == [0.5 * t for t in neuron.thresholds]
    report = compare_spikes(model.eval(), net, x)
    assert report["spike_equal"] and report["output_equal"] and report["spikes"] > 0, report
    # a reader that ignores the metadata starts at 0: here that changes the spikes, so the metadata carries it
    for m in net.neurons().values():
        m.v_init = 0.0
    assert not compare_spikes(model.eval(), net, x)["spike_equal"]


def test_graphs_without_v_init_metadata_start_at_zero():
    model = build_model(ModelSpec(arch="cnn", T=3, width=4, num_classes=3, input_shape=[1, 8, 8]))
    graph = to_nir(model)
    assert all("v_init" not in (n.metadata or {}) for n in graph.nodes.values())  # nothing new for plain models
    assert all(m.v_init == 0.0 for m in from_nir(graph).neurons().values())
