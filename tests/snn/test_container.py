"""``MultiStep``: neurokd's layers in a user's own network on ``[T, B, ...]`` give exactly the zoo's results."""

import copy

import pytest
import torch
from torch import nn

from neurokd.models import ModelSpec, NeuronSpec, build_model
from neurokd.snn import IF, LIF, MultiStep, TimeFolded, encode, spiking_neurons

T = 4


def _zoo(arch: str, shape: list[int], **kw):
    torch.manual_seed(0)
    spec = ModelSpec(arch=arch, kind="snn", T=T, num_classes=10, input_shape=shape,
                     neuron=NeuronSpec(beta=0.8, threshold=0.4), **kw)
    model = build_model(spec)
    model.train()
    with torch.no_grad():  # BatchNorm statistics: active layers in eval mode
        model(torch.rand(16, *shape))
    return model


def _spikes(model: nn.Module) -> tuple[list[torch.Tensor], list]:
    store: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: store.append(out.detach().clone()))
             for m in spiking_neurons(model)]
    return store, hooks


@pytest.mark.parametrize("arch,shape,kw", [
    ("cnn", [1, 8, 8], {"width": 8}),
    ("cnn1d", [1, 40], {"width": 8}),
    ("resnet20", [3, 8, 8], {"width": 8}),  # blocks with neurons inside and residual adds
])
def test_the_zoos_own_layers_in_a_container_give_the_same_spikes_outputs_and_gradients(arch, shape, kw):
    model = _zoo(arch, shape, **kw)
    net = MultiStep(*copy.deepcopy([model.stem, *[s for _, s in model.stages()], model.head]))
    for neuron in spiking_neurons(net):
        neuron.T = None  # as a user's fresh LIF(): the container sets T from its input
    x = torch.rand(8, *shape)
    seq = encode(x, T)
    for mode in ("eval", "train"):
        model.train(mode == "train")
        net.train(mode == "train")
        ours, h1 = _spikes(net)
        zoo, h2 = _spikes(model)
        out = net(seq)
        ref = model.forward_seq(x)
        for h in h1 + h2:
            h.remove()
        assert out.shape == (T, 8, 10) and torch.equal(out, ref), mode
        assert len(ours) == len(zoo) > 0 and all(torch.equal(a, b) for a, b in zip(ours, zoo)), mode
        assert any(s.sum() > 0 for s in ours)
    y = torch.randint(0, 10, (8,))
    nn.functional.cross_entropy(net(seq).mean(0), y).backward()
    nn.functional.cross_entropy(model(x), y).backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    zoo_grads = [p.grad for n, p in model.named_parameters()]
    assert len(grads) == len(zoo_grads) and all(torch.equal(a, b) for a, b in zip(grads.values(), zoo_grads))


def test_a_network_written_from_scratch_with_the_zoo_cnns_weights_equals_it():
    """The user's own layers (nothing from the zoo) loaded with a zoo cnn's state dict: identical outputs."""
    model = _zoo("cnn", [1, 8, 8], width=8).eval()
    neuron = {"beta": 0.8, "threshold": 0.4}

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), LIF(**neuron)]

    net = MultiStep(*block(1, 8, 1), *block(8, 16, 2), *block(16, 32, 2), nn.Flatten(), nn.Linear(32 * 2 * 2, 10))
    net.load_state_dict(dict(zip(net.state_dict(), model.state_dict().values())))
    net.eval()
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(encode(x, T)), model.forward_seq(x))


def test_nested_containers_time_folded_modules_and_if_neurons():
    torch.manual_seed(1)
    lin1, lin2 = nn.Linear(6, 5), nn.Linear(5, 3)
    flat = MultiStep(lin1, IF(threshold=0.3), lin2)
    nested = MultiStep(MultiStep(lin1, IF(threshold=0.3)), lin2)
    plain = nn.Sequential(TimeFolded(lin1), IF(threshold=0.3), TimeFolded(lin2))  # neurons on [T, B, ...]
    x = torch.rand(T, 7, 6)
    assert torch.equal(flat(x), nested(x)) and torch.equal(flat(x), plain(x))


def test_stateful_neurons_continue_across_calls_until_reset():
    torch.manual_seed(2)
    net = MultiStep(nn.Linear(3, 4), LIF(beta=0.9, threshold=0.5))
    x = torch.rand(2 * T, 5, 3)
    whole = net(x)
    for neuron in spiking_neurons(net):
        neuron.stateful = True
    halves = torch.cat([net(x[:T]), net(x[T:])])
    assert torch.equal(whole, halves)
    net.reset_state()
    assert torch.equal(net(x[:T]), whole[:T])


def test_input_without_a_time_axis_is_refused():
    with pytest.raises(ValueError, match=r"time-major sequence \[T, B, \.\.\.\]"):
        MultiStep(nn.Flatten())(torch.rand(3))
