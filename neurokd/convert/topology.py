"""A zoo twin's dataflow as ANN-to-SNN conversion sees it: which weight layer reads which activation and drives
which, and where an identity shortcut carries an activation straight into a residual add.

Walked in forward order over the twin's structure (``stem -> stages -> head``, ``nn.Sequential`` children,
ResNet ``BasicBlock``\\ s): a ``Conv1d``/``Conv2d``/``Linear`` opens a synapse, a BatchNorm right after it is
folded into it, an activation (ReLU, QCFS or a spiking neuron) closes every open synapse as its target. Average
pooling, flatten, identity and dropout are linear, so they pass rates through unchanged. Anything else (max
pooling above all: the maximum of spike trains is not the spike train of the maximum) stops with one line naming
the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from neurokd.errors import UserError
from neurokd.models.base import TwinNet
from neurokd.models.qcfs import QCFS
from neurokd.models.resnet import BasicBlock
from neurokd.snn.neurons import LIF

WEIGHTS = (nn.Conv1d, nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
ACTIVATIONS = (nn.ReLU, QCFS, LIF)
LINEAR = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Identity,
          nn.Dropout, nn.Dropout1d, nn.Dropout2d)
_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


@dataclass(frozen=True)
class Synapse:
    """One weight layer: module paths of the layer, its folded BatchNorm, the activation whose output it reads
    (None: the network input) and the activation it drives (None: the logits)."""

    weight: str
    norm: str | None
    source: str | None
    target: str | None


@dataclass
class Topology:
    """Synapses and activations in forward order; ``shortcuts``: activation -> the activation (None: the network
    input) whose output reaches it unchanged through a residual add's identity branch."""

    synapses: list[Synapse] = field(default_factory=list)
    activations: list[str] = field(default_factory=list)
    shortcuts: dict[str, str | None] = field(default_factory=dict)


class _Walker:
    def __init__(self) -> None:
        self.topo = Topology()
        self.open: list[list] = []  # [weight, norm, source] of synapses waiting for their target
        self.last_was_weight = False

    def walk(self, module: nn.Module, path: str, src: str | None) -> str | None:
        """Add ``module`` (reading the output of activation ``src``); return the activation its output comes from."""
        if isinstance(module, nn.Sequential):
            for name, child in module.named_children():
                src = self.walk(child, f"{path}.{name}", src)
            return src
        if isinstance(module, BasicBlock):
            return self._block(module, path, src)
        was_weight, self.last_was_weight = self.last_was_weight, isinstance(module, WEIGHTS)
        if isinstance(module, WEIGHTS):
            self.open.append([path, None, src])
            return src
        if isinstance(module, NORMS):
            if not was_weight or not module.affine:
                raise UserError(f"cannot convert {path} ({type(module).__name__}): only an affine BatchNorm right "
                                "after a conv/linear layer can be folded into it")
            self.open[-1][1] = path
            return src
        if isinstance(module, ACTIVATIONS):
            if not self.open and path not in self.topo.shortcuts:
                raise UserError(f"cannot convert {path} ({type(module).__name__}): no weight layer drives it")
            self.topo.synapses += [Synapse(w, n, s, path) for w, n, s in self.open]
            self.open.clear()
            self.topo.activations.append(path)
            return path
        if isinstance(module, LINEAR):
            return src
        raise UserError(_unsupported(module, path))

    def _block(self, block: BasicBlock, path: str, src: str | None) -> str | None:
        """``act2(bn2(conv2(act1(bn1(conv1(x))))) + shortcut(x))``."""
        h = src
        for name in ("conv1", "bn1", "act1", "conv2", "bn2"):
            h = self.walk(getattr(block, name), f"{path}.{name}", h)
        if block.downsample is None:
            self.topo.shortcuts[f"{path}.act2"] = src
        else:
            self.walk(block.downsample, f"{path}.downsample", src)
        return self.walk(block.act2, f"{path}.act2", h)

    def finish(self) -> Topology:
        self.topo.synapses += [Synapse(w, n, s, None) for w, n, s in self.open]
        self.open.clear()
        return self.topo


def _unsupported(module: nn.Module, path: str) -> str:
    kind = type(module).__name__
    if isinstance(module, _MAX_POOLS):
        return (f"cannot convert {path} ({kind}): max pooling is not rate-preserving (the maximum of spike trains "
                "is not the spike train of the maximum); use a twin without it (ResNets: --model.stem cifar)")
    return (f"cannot convert {path} ({kind}): conversion handles conv/linear layers, BatchNorm after them, "
            "ReLU/QCFS activations, average pooling, flatten and ResNet BasicBlocks")


def topology(model: TwinNet) -> Topology:
    """The dataflow of a zoo twin (either kind); raises UserError naming the first layer it cannot convert."""
    walker = _Walker()
    src: str | None = None
    for name, child in [("stem", model.stem), *model.stages(), ("head", model.head)]:
        src = walker.walk(child, name, src)
    return walker.finish()
