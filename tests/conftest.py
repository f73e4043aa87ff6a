import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    """Generated datasets (MNIST-1D) go to a per-session cache, not the user's home."""
    os.environ["NEUROKD_CACHE"] = str(tmp_path_factory.mktemp("neurokd-cache"))
    yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
