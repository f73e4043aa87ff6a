"""Shared fixtures: small hand-made integer networks and one briefly trained digits SNN."""

import numpy as np
import pytest
import torch

from neurokd.exporters.lava.netx import ConvLayer, Cuba, DenseLayer, FlattenLayer, InputLayer, NetxNetwork
from neurokd.exporters.lava.netx_writer import write_netx


@pytest.fixture(scope="session")
def trained_snn(tmp_path_factory):
    """A width-16 cnn SNN (T=4, LIF beta 0.5) trained for a few epochs on digits: ``(run_dir, model)``."""
    from neurokd.config import RunConfig
    from neurokd.configlib import build_config
    from neurokd.train import run_training

    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("lava-runs")
    cfg = build_config(RunConfig, overrides={
        "name": "snn", "out_dir": str(out), "data.name": "digits", "model.arch": "cnn", "model.kind": "snn",
        "model.width": 16, "model.T": 4, "optim.epochs": 12, "optim.lr": 3e-3, "train.progress": False,
        "train.threads": 1})
    result = run_training(cfg, overwrite=True)
    return result.run_dir, result.model.eval()


def random_batchnorm(model: torch.nn.Module) -> torch.nn.Module:
    """Non-trivial BatchNorm statistics (so that folding and biases matter) and an active network."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.4)
    return model


def conv_network(seed: int = 0, T: int = 4) -> NetxNetwork:
    """input (2,6,5) -> conv 3x3 (graded input) -> conv 3x3/2 -> flatten -> dense 7 -> dense 5 (readout)."""
    rng = np.random.default_rng(seed)
    layers = [
        InputLayer((2, 6, 5)),
        ConvLayer((4, 6, 5), rng.integers(-60, 60, (4, 2, 3, 3)), Cuba(4096, 1024, 300), (1, 1), (1, 1),
                  bias=rng.integers(-50, 50, 4)),
        ConvLayer((3, 3, 3), rng.integers(-100, 120, (3, 4, 3, 3)), Cuba(4096, 2048, 200), (2, 2), (1, 1),
                  bias=rng.integers(-50, 50, 3)),
        FlattenLayer((27, 1, 1)),
        DenseLayer((7,), rng.integers(-128, 127, (7, 27)), Cuba(4096, 100, 150), bias=rng.integers(-30, 60, 7)),
        DenseLayer((5,), rng.integers(-128, 127, (5, 7)), Cuba(4096, 0, (1 << 17) - 1),
                   bias=rng.integers(-30, 30, 5)),
    ]
    return NetxNetwork(layers, {"T": T})


def dense_network(seed: int = 1, T: int = 4) -> NetxNetwork:
    """input (12,) -> dense 10 (leaky, with a current filter) -> dense 6 -> dense 4 (readout)."""
    rng = np.random.default_rng(seed)
    layers = [
        InputLayer((12,)),
        DenseLayer((10,), rng.integers(-40, 80, (10, 12)), Cuba(1024, 300, 400), bias=rng.integers(-20, 40, 10)),
        DenseLayer((6,), rng.integers(-128, 127, (6, 10)), Cuba(4096, 0, 90)),
        DenseLayer((4,), rng.integers(-128, 127, (4, 6)), Cuba(4096, 0, (1 << 17) - 1), bias=rng.integers(-9, 9, 4)),
    ]
    return NetxNetwork(layers, {"T": T})


@pytest.fixture
def conv_net_file(tmp_path):
    return write_netx(conv_network(), tmp_path / "conv.net")


@pytest.fixture
def dense_net_file(tmp_path):
    return write_netx(dense_network(), tmp_path / "dense.net")
