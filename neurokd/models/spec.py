"""Model specifications: one spec builds the ANN (ReLU) or the SNN (spiking neuron) twin.

A spec is plain data (JSON/YAML round-trippable); it is saved next to the weights so a checkpoint is loadable
on its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from neurokd.configlib import Checked, parse_dataclass

ARCHS: tuple[str, ...] = (
    "cnn", "cnn1d", "vgg11", "vgg13", "vgg16", "resnet18", "resnet19", "resnet20", "resnet34", "resnet1d",
)


# Fields that describe only the spiking twin: an ANN's model file leaves them out.
SNN_FIELDS: tuple[str, ...] = ("T", "encoder", "neuron")


def stored_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec dict as model files store it: an ANN's without :data:`SNN_FIELDS` (they would describe neurons it
    does not have); reading fills them with defaults, so files with or without them load alike."""
    if spec.get("kind") == "ann":
        return {k: v for k, v in spec.items() if k not in SNN_FIELDS}
    return dict(spec)


@dataclass
class NeuronSpec(Checked):
    """Spiking neuron used by every activation of an SNN twin."""

    KEY: ClassVar[str] = "model.neuron"

    type: Literal["lif", "if"] = field(default="lif", metadata={"help": "lif (leaky) or if (no leak)"})
    beta: float = field(default=0.5, metadata={"gt": 0.0, "max": 1.0, "help": "membrane decay per step"})
    threshold: float = field(default=1.0, metadata={"gt": 0.0, "help": "firing threshold"})
    reset: Literal["zero", "subtract"] = field(default="zero", metadata={"help": "reset after a spike"})
    surrogate: Literal["sigmoid", "atan", "triangle"] = field(default="atan", metadata={"help": "surrogate gradient"})
    surrogate_alpha: float | None = field(default=None, metadata={"gt": 0.0, "help": "surrogate sharpness/width"})
    learn_beta: bool = field(default=False, metadata={"help": "learn the decay (sigmoid-parametrised)"})
    detach_reset: bool = field(default=True, metadata={"help": "no gradient through the reset"})
    thresholds: list[float] | None = field(
        default=None,
        metadata={"gt": 0.0, "help": "per-layer firing thresholds, one per spiking layer in forward order (ANN-to-SNN "
                                     "conversion sets them); null = threshold for every layer"},
    )
    initial_membrane: float = field(
        default=0.0,
        metadata={"min": 0.0, "max": 1.0, "help": "membrane potential at t = 0 as a fraction of each layer's "
                                                  "threshold (QCFS conversion: 0.5)"},
    )


@dataclass
class ModelSpec(Checked):
    """Architecture and twin kind. ``num_classes``/``input_shape`` are filled from the dataset when None."""

    KEY: ClassVar[str] = "model"

    arch: Literal[ARCHS] = field(default="cnn", metadata={"help": "architecture"})  # type: ignore[valid-type]
    kind: Literal["ann", "snn"] = field(default="snn", metadata={"help": "ann (ReLU teacher) or snn (spiking)"})
    T: int = field(default=4, metadata={"min": 1, "help": "time steps (SNN)"})
    encoder: Literal["direct", "poisson"] = field(default="direct", metadata={"help": "input encoding (SNN)"})
    neuron: NeuronSpec = field(default_factory=NeuronSpec)
    activation: Literal["relu", "qcfs"] = field(
        default="relu",
        metadata={"help": "ANN twin's activation: relu, or qcfs (quantization-clip-floor-shift with qcfs_levels "
                          "levels and a learnable threshold per layer, trained for ANN-to-SNN conversion)"},
    )
    qcfs_levels: int = field(  # papers use L = 2..16; at 2^16 the steps are below what T steps can express
        default=8, metadata={"min": 1, "max": 2**16, "help": "QCFS quantization levels L (activation qcfs)"})
    stem: Literal["auto", "cifar", "imagenet"] = field(
        default="auto", metadata={"help": "ResNet stem; auto = imagenet for inputs >= 64 px"}
    )
    downsample: Literal["avgpool", "stride"] = field(
        default="avgpool",
        metadata={"help": "VGG down-sampling: avgpool, or stride-2 convs (Loihi/netx friendly, no pooling)"},
    )
    width: int | None = field(default=None, metadata={"min": 1, "help": "base channel width (arch default if None)"})
    num_classes: int | None = field(default=None, metadata={"min": 2, "help": "classes (from the dataset)"})
    input_shape: list[int] | None = field(default=None, metadata={"help": "[C, H, W] or [C, L] (from the dataset)"})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return parse_dataclass(cls, data, "model")
