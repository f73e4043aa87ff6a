import os
from types import SimpleNamespace

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


@pytest.fixture
def neurokd(capsys):
    """Run the ``neurokd`` command in this process (a subprocess would spend seconds importing torch):
    ``neurokd(*args) -> (returncode, stdout, stderr)``."""
    from neurokd.cli import main

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run
