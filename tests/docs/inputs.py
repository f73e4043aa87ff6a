"""Files a document's commands read that a reader brings along (their CIFAR-10 copy, a torchvision ResNet-18
state dict, their own chip profile), written in their real on-disk formats into the scratch folder before the
document runs. Each is a stand-in of the real thing's format, not of its contents (random images and
weights)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from tests.data.test_datasets import _write_cifar
from tests.distill.conftest import zoo
from tests.distill.test_teachers import _torchvision_names
from tests.docs.markdown import blocks
from tests.docs.runner import ROOT


def cifar10(scratch: Path) -> None:
    """``data/cifar-10-batches-py/``: the official python batches (``--data-root data``), a few images
    each."""
    _write_cifar(scratch / "data")


def torchvision_resnet18(scratch: Path) -> None:
    """``resnet18.pth``: a ResNet-18 state dict under torchvision's names (``conv1``, ``layerN``, ``fc``), for
    10 classes, as ``torch.save(model.state_dict(), ...)`` writes it."""
    model = zoo("resnet18", [3, 32, 32], stem="imagenet")
    torch.save(_torchvision_names(model.state_dict()), scratch / "resnet18.pth")


def chip_profile(scratch: Path) -> None:
    """``my_chip.yaml``: the chip profile docs/hardware.md prints as its example of your own chip."""
    (yaml_block,) = blocks(ROOT / "docs" / "hardware.md", langs=("yaml",))
    (scratch / "my_chip.yaml").write_text(yaml_block.text)


INPUTS: dict[str, list[Callable[[Path], None]]] = {
    "docs/cli.md": [cifar10, torchvision_resnet18, chip_profile],
}
