import pytest
import torch
from torch import nn

from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.models import ModelSpec, build_model


def randomize_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics, so eval-mode outputs differ from train-mode ones."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.6 - 0.3)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model.eval()


def zoo(arch: str, shape, kind: str = "ann", **kw) -> nn.Module:
    return randomize_bn(build_model(ModelSpec(arch=arch, kind=kind, num_classes=10, input_shape=list(shape), **kw)))


def run_cfg(tmp_path, **over) -> RunConfig:
    base = {"name": "r", "out_dir": str(tmp_path), "train.progress": False, "optim.epochs": 2, "model.width": 8,
            "train.threads": 1, "model.T": 2}
    base.update(over)
    return build_config(RunConfig, overrides=base)


@pytest.fixture(scope="module")
def digits_teacher(tmp_path_factory):
    """A briefly trained digits ANN teacher run folder (cnn, width 8)."""
    from neurokd.train import run_training

    out = tmp_path_factory.mktemp("teacher")
    return run_training(run_cfg(out, name="teacher", **{"model.kind": "ann", "optim.epochs": 3})).run_dir
