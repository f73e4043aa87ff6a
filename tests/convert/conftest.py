"""Zoo ANNs with non-trivial weights for conversion tests."""

import pytest
import torch
from torch import nn

from neurokd.models import ModelSpec, build_model
from tests.distill.conftest import run_cfg as distill_run_cfg


def spread(model: nn.Module, seed: int = 1) -> nn.Module:
    """Random BN statistics and affine (pre-activations ~N(0.2, 1)) and unit-gain linear layers, so a random twin has
    healthy activations and logit margins; eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.6 - 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.4 + 0.8)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, m.in_features ** -0.5, generator=g)
    return model.eval()


def zoo_ann(arch: str, shape, width: int | None = None, **kw) -> nn.Module:
    spec = ModelSpec(arch=arch, kind="ann", num_classes=10, input_shape=list(shape), width=width, **kw)
    return spread(build_model(spec))


def run_cfg(out, **over):
    """The distill tests' small run config (digits cnn, width 8) at T = 4."""
    return distill_run_cfg(out, **{"model.T": 4, **over})


@pytest.fixture(scope="session")
def digits_teachers(tmp_path_factory):
    """Briefly trained digits cnn teachers (width 8): ``relu`` and ``qcfs`` (L = 4) run folders."""
    from neurokd.train import run_training

    out = tmp_path_factory.mktemp("teachers")
    relu = run_training(run_cfg(out, name="relu", **{"model.kind": "ann", "optim.epochs": 4})).run_dir
    qcfs = run_training(run_cfg(out, name="qcfs", **{"model.kind": "ann", "optim.epochs": 4,
                                                     "model.activation": "qcfs", "model.qcfs_levels": 4})).run_dir
    return {"relu": relu, "qcfs": qcfs}
