"""Small CNNs: ``cnn`` (2-D, sized for 8x8 digits) and ``cnn1d`` (3 stages of Conv1d, for MNIST-1D).

Both down-sample with stride-2 convolutions and end in flatten + linear, so the SNN twin has no pooling:
it exports to NIR and to Loihi 2 netx as is, and every synaptic layer sees binary spikes.
"""

from __future__ import annotations

from torch import nn

from neurokd.models.base import TwinNet, conv_out, init_weights, make_act_factory
from neurokd.models.spec import ModelSpec


def _conv_bn_act(conv: nn.Module, bn: nn.Module, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(conv, bn, act)


def build_cnn(spec: ModelSpec) -> TwinNet:
    """stage1: 3x3 conv w; stage2: 3x3/2 conv 2w; stage3: 3x3/2 conv 4w; head: flatten + linear."""
    c, h, w = spec.input_shape  # type: ignore[misc]
    width = spec.width or 16
    act = make_act_factory(spec)
    chans = [width, 2 * width, 4 * width]
    strides = [1, 2, 2]
    stages, cin = [], c
    for cout, s in zip(chans, strides):
        stages.append(_conv_bn_act(nn.Conv2d(cin, cout, 3, s, 1, bias=False), nn.BatchNorm2d(cout), act()))
        h, w, cin = conv_out(h, 3, s, 1), conv_out(w, 3, s, 1), cout
    head = nn.Sequential(nn.Flatten(), nn.Linear(cin * h * w, spec.num_classes))
    model = TwinNet(spec, nn.Identity(), stages, head)
    init_weights(model)
    return model


def build_cnn1d(spec: ModelSpec) -> TwinNet:
    """stage1: k5 conv1d w; stage2: k3/2 conv1d 2w; stage3: k3/2 conv1d 4w; head: flatten + linear."""
    c, length = spec.input_shape  # type: ignore[misc]
    width = spec.width or 32
    act = make_act_factory(spec)
    layers = [(width, 5, 1, 2), (2 * width, 3, 2, 1), (4 * width, 3, 2, 1)]
    stages, cin = [], c
    for cout, k, s, p in layers:
        stages.append(_conv_bn_act(nn.Conv1d(cin, cout, k, s, p, bias=False), nn.BatchNorm1d(cout), act()))
        length, cin = conv_out(length, k, s, p), cout
    head = nn.Sequential(nn.Flatten(), nn.Linear(cin * length, spec.num_classes))
    model = TwinNet(spec, nn.Identity(), stages, head)
    init_weights(model)
    return model
