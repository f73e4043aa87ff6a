"""What the commands and the API accept as "a model": a run folder, a model / checkpoint file, an exported NIR
graph (``.nir``), an exported Loihi 2 network (``.net`` chain or ``.lava`` graph) or a model object, opened as one :class:`ModelSource`
with the model to run and the dataset to run it on.

A NIR file runs through neurokd's importer (float, spike-exact with the exported SNN); a ``.net`` file through
the bit-accurate NumPy model of Loihi 2's fixed point. The dataset comes from the run folder's config, the file's
metadata (``data``, written at export) or ``data.*`` settings given by the caller.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from neurokd.config import DataConfig, merge_data_config
from neurokd.errors import UserError
from neurokd.runs import Run

NIR_SUFFIXES = (".nir", ".h5", ".hdf5")
LAVA_SUFFIXES = (".net", ".lava")  # a netx chain, a Lava graph (residual networks)


class NIRReadout(nn.Module):
    """An imported NIR network with neurokd's readout as ``forward``: ``[B, ...] -> [B, K]`` (mean over T).

    ``spec`` carries what the hardware counts read from a model (input shape, encoding, arch); ``ann_twin()`` is
    the same graph with ReLUs for neurons, run once (its dense MACs stand for the ANN's)."""

    def __init__(self, net: nn.Module, is_snn: bool = True):
        super().__init__()
        self.net = net
        self.is_snn = is_snn
        meta = getattr(net, "metadata", {})
        self.spec = SimpleNamespace(input_shape=list(net.input_shape), encoder=getattr(net, "encoding", "direct"),
                                    arch=str(meta.get("arch", "nir")), reset=str(meta.get("reset", "zero")))

    @property
    def T(self) -> int | None:
        return self.net.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.logits(x)

    def ann_twin(self) -> NIRReadout:
        from neurokd.snn.neurons import LIF

        net = copy.deepcopy(self.net).eval()
        for key, layer in list(net.layers.items()):
            if isinstance(layer, LIF):
                net.layers[key] = nn.ReLU()
        net.T = 1
        return NIRReadout(net, is_snn=False)


@dataclass
class ModelSource:
    """A model to evaluate, count or simulate, with where its data comes from."""

    name: str
    kind: str  # "run" (a run folder or model file), "nir", "lava" (a .net or .lava file) or "module"
    model: Any  # an nn.Module (twin or NIRReadout); for "lava" the file path
    run: Run | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # an exported file's metadata (nir, netx)
    T: int | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The dataset section an exported file recorded (``data``), empty when none."""
        data = self.meta.get("data")
        return dict(data) if isinstance(data, dict) else {}

    def data_config(self, overrides: dict[str, Any] | None = None) -> DataConfig:
        """The dataset to run on: the run's, else the file's recorded one, with ``data.*`` overrides on top."""
        if self.run is not None:
            return self.run.data_config(overrides)
        if not self.data and not (overrides or {}).get("data.name"):
            raise UserError(f"{self.name} records no dataset; name one (--dataset NAME)")
        return merge_data_config(self.data, overrides or {})

    def split(self, name: str, overrides: dict[str, Any] | None = None, progress: bool = True):
        """Split ``name`` of the model's dataset in order, event data binned into the model's T frames."""
        from neurokd.data import load_split

        if self.run is not None:
            return self.run.split(name, T=self.T, overrides=overrides, progress=progress)
        return load_split(self.data_config(overrides), name, T=self.T, progress=progress)


    @property
    def arch(self) -> str:
        spec = getattr(self.model, "spec", None)
        if spec is not None:
            return spec.arch
        return str(self.meta.get("arch") or self.kind)

    @property
    def description(self) -> str:
        """What the model is, for a report: ``cnn SNN (lif, reset zero)``, ``resnet20 NIR graph (reset zero)``."""
        spec = getattr(self.model, "spec", None)
        if self.kind == "nir":
            return f"{spec.arch} NIR graph (reset {spec.reset}, neurokd's importer)"
        if self.kind == "lava":
            return f"{self.arch} Loihi 2 fixed-point network"
        if not self.is_snn:
            return f"{spec.arch} ANN"
        return f"{spec.arch} SNN ({spec.neuron.type}, reset {spec.neuron.reset})"

    @property
    def is_snn(self) -> bool:
        return self.kind in ("nir", "lava") or bool(getattr(self.model, "is_snn", False))

    def check_fits(self, batch: int) -> None:
        """Refuse up front, in one line, running the model at its T on ``batch`` samples when the resource
        guard's estimate cannot fit in memory (:mod:`neurokd.guard`; a ``.net`` file was sized when read)."""
        from neurokd.guard import check_inference, check_module
        from neurokd.models import ModelSpec

        spec = getattr(self.model, "spec", None)
        if isinstance(spec, ModelSpec):
            check_inference(spec, self.T or 1, batch, self.name)
        elif self.kind == "nir":
            net = self.model.net
            check_module(net, net.input_shape, [1, 1, *net.input_shape], self.T or 1, batch, self.name,
                         after=net.reset_state)

    def evaluate(self, split) -> dict[str, Any]:
        """``{"acc", "loss", "n"}`` on a :class:`~neurokd.data.Split` (a ``.net`` file: accuracy of the fixed-point
        network, bit-accurate NumPy model; it has no loss)."""
        if self.kind == "lava":
            from neurokd.exporters.lava.simulation import simulate

            x, y = split.tensors()
            res = simulate(self.model, x.numpy(), backend="numpy")
            return {"acc": res.accuracy(y.numpy()), "loss": None, "n": int(len(y))}
        from neurokd.eval import evaluate

        return evaluate(self.model, split.loader)


def open_model(model: Any, T: int | None = None) -> ModelSource:
    """A :class:`ModelSource` for a path (run folder, model file, ``.nir``, ``.net``) or a model object; an SNN
    runs ``T`` steps when given."""
    if not isinstance(model, str | Path):
        if T is not None and getattr(model, "is_snn", False):
            model.set_T(T)
        return ModelSource(type(model).__name__, "module", model, T=getattr(model, "T", None))
    path = Path(model)
    suffix = path.suffix.lower()
    if suffix in NIR_SUFFIXES and path.is_file():
        return _open_nir(path, T)
    if suffix in LAVA_SUFFIXES and path.is_file():
        return _open_netx(path, T)
    run = Run.open(path)
    twin = run.model(T=T)
    return ModelSource(run.name, "run", twin, run=run, T=twin.T if twin.is_snn else None)


def _open_nir(path: Path, T: int | None) -> ModelSource:
    from neurokd.exporters.nir import from_nir

    net = from_nir(path)
    if T is not None:
        net.T = T
    if net.T is None:
        raise UserError(f"NIR file {path}: records no T (time steps per sample); pass --T")
    return ModelSource(path.name, "nir", NIRReadout(net), meta=dict(net.metadata), T=net.T)


def _open_netx(path: Path, T: int | None) -> ModelSource:
    from neurokd.exporters.lava.files import read_lava

    net = read_lava(path)
    recorded = int(net.meta["T"]) if "T" in net.meta else None
    if T is not None and recorded is not None and T != recorded:
        raise UserError(f"{path}: a Loihi 2 network exported for T={recorded} (its readout range is sized for "
                        f"it); export again with --T {T}")
    return ModelSource(path.name, "lava", str(path), meta=dict(net.meta), T=recorded or T)
