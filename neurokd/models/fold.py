"""Fold BatchNorm into the preceding convolution or linear layer (inference and export).

In eval mode ``BN(W x + b) = W' x + b'`` with ``W' = W * g / sqrt(var + eps)`` (per output channel) and
``b' = (b - mean) * g / sqrt(var + eps) + beta``. Folding removes a full pass over every activation tensor,
and NIR/Loihi have no BatchNorm, so exporters start from a folded copy.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_FOLDABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d)


def fold_conv_bn(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A new conv/linear equal to ``bn(layer(x))`` in eval mode (float64 arithmetic, cast back)."""
    w = layer.weight.detach().double()
    b = layer.bias.detach().double() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    new_w = w * scale.view(-1, *([1] * (w.ndim - 1)))
    new_b = (b - bn.running_mean.double()) * scale + bn.bias.detach().double()
    out = copy.deepcopy(layer)
    if out.bias is None:
        out.bias = nn.Parameter(torch.empty(w.shape[0], dtype=layer.weight.dtype, device=layer.weight.device))
    with torch.no_grad():
        out.weight.copy_(new_w.to(layer.weight.dtype))
        out.bias.copy_(new_b.to(layer.weight.dtype))
    return out


def _fold_in_sequential(seq: nn.Sequential) -> None:
    names = list(seq._modules)
    i = 0
    while i < len(names) - 1:
        a, b = seq._modules[names[i]], seq._modules[names[i + 1]]
        if isinstance(a, _FOLDABLE) and isinstance(b, _BN):
            seq._modules[names[i]] = fold_conv_bn(a, b)
            seq._modules[names[i + 1]] = nn.Identity()
            i += 2
        else:
            i += 1


def _fold_named_pairs(module: nn.Module) -> None:
    """``convN``/``bnN`` attribute pairs (ResNet blocks)."""
    for name, child in list(module.named_children()):
        if name.startswith("conv") and isinstance(child, _FOLDABLE):
            bn_name = "bn" + name[len("conv"):]
            bn = getattr(module, bn_name, None)
            if isinstance(bn, _BN):
                setattr(module, name, fold_conv_bn(child, bn))
                setattr(module, bn_name, nn.Identity())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with every conv/linear -> BN pair folded (BN becomes Identity)."""
    model = copy.deepcopy(model).eval()
    for m in model.modules():
        if isinstance(m, nn.Sequential):
            _fold_in_sequential(m)
        _fold_named_pairs(m)
    return model


def inference_model(model: nn.Module) -> nn.Module:
    """The deployment form of a trained model: BN folded, eval mode, memory format kept."""
    channels_last = any(
        isinstance(m, nn.Conv2d) and m.weight.is_contiguous(memory_format=torch.channels_last)
        and not m.weight.is_contiguous() for m in model.modules()
    )
    folded = fold_batchnorm(model)
    return folded.to(memory_format=torch.channels_last) if channels_last else folded
