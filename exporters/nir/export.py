"""neurokd SNN -> ``nir.NIRGraph``.

The exporter walks the model's structure (``stem -> stage1..N -> head``; ``nn.Sequential`` containers; ResNet
``BasicBlock`` with its residual add as two edges fanning into the block's output neuron) on a BatchNorm-folded
copy, and converts each layer:

| torch / neurokd                      | NIR                                                         |
|--------------------------------------|-------------------------------------------------------------|
| ``Conv1d`` / ``Conv2d``              | ``Conv1d`` / ``Conv2d`` (bias zeros when absent)            |
| ``Linear``                           | ``Affine`` (``Linear`` when bias-free)                      |
| ``LIF`` / ``IF``                     | ``LIF`` / ``IF`` (Euler convention, see ``convention``)     |
| ``AvgPool2d``                        | ``AvgPool2d`` (``SumPool2d`` when ``divisor_override=1``)   |
| ``AdaptiveAvgPool2d`` (even windows) | ``AvgPool2d`` with kernel = stride = window                 |
| ``Flatten(start_dim, end_dim)``      | ``Flatten`` with negative dims: ``-3, -1`` on ``[C, H, W]`` |
| ``Identity``, ``Dropout``, folded BN | nothing (edges pass through)                                |

Flatten dims are negative (counted from the end) because they then mean the same dimension with and without
the batch: NIR shapes exclude the batch, and readers differ in whether they add 1 to a non-negative
``start_dim`` (SpikingJelly 2.0 and ours do; snnTorch 1.0, Norse 1.1 and nirtorch 2.6's default do not, and
then flatten the batch). Files from earlier versions (``start_dim=0``) mean the same and still import.

Node names are module paths with ``.`` replaced by ``_`` (``stage1.0.conv1`` -> ``stage1_0_conv1``).

What NIR cannot say and the metadata records: ``dt``; the reset mode (NIR >= 1.0.6 resets to
``v_reset``, it has no subtractive reset); each neuron node's initial membrane ``v_init`` (NIR nodes have no
initial state; ANN-to-SNN conversion starts QCFS neurons at half the threshold); the input encoding (``direct``: the analog input ``[*input_shape]``
is presented unchanged at each of ``T`` steps, the first layer acting as encoder); and the readout (the
network's output is the last Affine's per-step output, and the class scores are its mean over the ``T`` steps).
"""

from __future__ import annotations

import warnings
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from neurokd.errors import UserError
from neurokd.exporters.nir.convention import DEFAULT_DT, euler_tau, neuron_metadata, nir_dim
from neurokd.models.base import TwinNet
from neurokd.models.fold import fold_batchnorm
from neurokd.models.resnet import BasicBlock
from neurokd.snn.neurons import LIF
from neurokd.version import __version__

Shape = tuple[int, ...]
PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)
_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float32}


def node_name(module_path: str) -> str:
    """NIR node name of the module at ``module_path`` (torch/fx-friendly: no dots)."""
    return module_path.replace(".", "_")


class _GraphBuilder:
    """Collects nodes and edges; tracks each node's output shape (NIR shapes: no batch, no time)."""

    def __init__(self, dt: float, dtype: type[np.floating]):
        self.dt = dt
        self.dtype = dtype
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.shapes: dict[str, Shape] = {}
        self.resets: set[str] = set()
        self.initial: set[str] = set()  # neurons starting from a nonzero membrane (ANN-to-SNN conversion)

    def add(self, name: str, node: nir.NIRNode, sources: list[str], out_shape: Shape) -> str:
        if name in self.nodes:
            raise UserError(f"cannot export to NIR: two layers map to the node name '{name}'; rename one module")
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        self.shapes[name] = out_shape
        return name

    def walk(self, module: nn.Module, path: str, src: str) -> str:
        """Add ``module`` (fed by node ``src``); return the name of the node holding its output."""
        if isinstance(module, nn.Sequential):
            for child_name, child in module.named_children():
                src = self.walk(child, f"{path}.{child_name}", src)
            return src
        if isinstance(module, PASS_THROUGH):
            return src
        if isinstance(module, BasicBlock):
            return self._basic_block(module, path, src)
        node, out_shape = self.convert(module, path, self.shapes[src])
        return self.add(node_name(path), node, [src], out_shape)

    def _basic_block(self, block: BasicBlock, path: str, src: str) -> str:
        """``act2(bn2(conv2(act1(bn1(conv1(x))))) + shortcut(x))``: the add is two edges into ``act2``."""
        h = src
        for name in ("conv1", "bn1", "act1", "conv2", "bn2"):
            h = self.walk(getattr(block, name), f"{path}.{name}", h)
        shortcut = src if block.downsample is None else self.walk(block.downsample, f"{path}.downsample", src)
        if self.shapes[h] != self.shapes[shortcut]:
            raise UserError(f"cannot export to NIR: residual add in {path} joins shapes {self.shapes[h]} and "
                            f"{self.shapes[shortcut]}")
        node, out_shape = self.convert(block.act2, f"{path}.act2", self.shapes[h])
        return self.add(node_name(f"{path}.act2"), node, [h, shortcut], out_shape)

    # ------------------------------------------------------------------------------------------ layers
    def convert(self, m: nn.Module, path: str, in_shape: Shape) -> tuple[nir.NIRNode, Shape]:
        """One layer -> (NIR node, output shape). Raises a UserError naming ``path`` for what NIR can't say."""
        if isinstance(m, LIF):
            return self._neuron(m, path, in_shape), in_shape
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            node = self._conv(m, path, in_shape)
        elif isinstance(m, nn.Linear):
            w = self._array(m.weight)
            node = nir.Linear(weight=w) if m.bias is None else nir.Affine(weight=w, bias=self._array(m.bias))
        elif isinstance(m, nn.AvgPool2d):
            node = self._avgpool(m, path)
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            node = self._adaptive_avgpool(m, path, in_shape)
        elif isinstance(m, nn.Flatten):
            node = self._flatten(m, path, in_shape)
        else:
            raise UserError(_unsupported_message(m, path))
        return node, self._out_shape(m, path, in_shape)

    def _flatten(self, m: nn.Flatten, path: str, in_shape: Shape) -> nir.NIRNode:
        """Negative NIR dims (``convention.nir_dim``): every NIR reader keeps the batch, not only ours."""
        what = f"{path} (Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}))"
        if any(d in (0, -(len(in_shape) + 1)) for d in (m.start_dim, m.end_dim)):
            raise UserError(f"cannot export {what} to NIR: it flattens the batch; use nn.Flatten() (start_dim=1)")
        self._out_shape(m, path, in_shape)  # torch's own check (range, start <= end), as a UserError
        start, end = nir_dim(m.start_dim, len(in_shape)), nir_dim(m.end_dim, len(in_shape))
        return nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end)

    def _array(self, t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(self.dtype, copy=True)

    def _neuron(self, m: LIF, path: str, shape: Shape) -> nir.NIRNode:
        beta = float(m.beta.detach()) if isinstance(m.beta, torch.Tensor) else float(m.beta)
        thr = np.full(shape, m.threshold, dtype=self.dtype)
        zeros = np.zeros(shape, dtype=self.dtype)
        self.resets.add(m.reset)
        if m.v_init:
            self.initial.add(path)
        if beta == 1.0:
            meta = neuron_metadata("if", 1.0, m.threshold, m.reset, self.dt, m.v_init)
            return nir.IF(r=np.full(shape, 1.0 / self.dt, dtype=self.dtype), v_threshold=thr, v_reset=zeros,
                          metadata=meta)
        tau = np.full(shape, euler_tau(beta, self.dt, self.dtype), dtype=self.dtype)
        meta = neuron_metadata("lif", beta, m.threshold, m.reset, self.dt, m.v_init)
        return nir.LIF(tau=tau, r=(tau / self.dtype(self.dt)).astype(self.dtype), v_leak=zeros, v_threshold=thr,
                       v_reset=zeros, metadata=meta)

    def _conv(self, m: nn.Conv1d | nn.Conv2d, path: str, in_shape: Shape) -> nir.NIRNode:
        if m.padding_mode != "zeros":
            raise UserError(f"cannot export {path} ({type(m).__name__}, padding_mode={m.padding_mode!r}) to NIR: "
                            "NIR convolutions pad with zeros; use padding_mode='zeros'")
        if m.groups != 1:
            raise UserError(f"cannot export {path} ({type(m).__name__}, groups={m.groups}) to NIR: nir 1.0.8 "
                            "types grouped convolutions wrongly; use groups=1")
        w = self._array(m.weight)
        b = self._array(m.bias) if m.bias is not None else np.zeros(w.shape[0], dtype=self.dtype)
        padding = m.padding if isinstance(m.padding, str) else tuple(int(p) for p in m.padding)
        if isinstance(m, nn.Conv1d):
            return nir.Conv1d(input_shape=int(in_shape[1]), weight=w, stride=int(m.stride[0]),
                              padding=padding if isinstance(padding, str) else padding[0],
                              dilation=int(m.dilation[0]), groups=1, bias=b)
        return nir.Conv2d(input_shape=(int(in_shape[1]), int(in_shape[2])), weight=w,
                          stride=tuple(int(s) for s in m.stride), padding=padding,
                          dilation=tuple(int(d) for d in m.dilation), groups=1, bias=b)

    @staticmethod
    def _avgpool(m: nn.AvgPool2d, path: str) -> nir.NIRNode:
        k, s, p = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
        if m.ceil_mode:
            raise UserError(f"cannot export {path} (AvgPool2d, ceil_mode=True) to NIR: NIR pools with floor "
                            "output sizes; use ceil_mode=False")
        if p.any() and not m.count_include_pad:
            raise UserError(f"cannot export {path} (AvgPool2d, count_include_pad=False) to NIR: NIR averages over "
                            "the full window; use count_include_pad=True or no padding")
        if m.divisor_override == 1:
            return nir.SumPool2d(kernel_size=k, stride=s, padding=p)
        if m.divisor_override is not None:
            raise UserError(f"cannot export {path} (AvgPool2d, divisor_override={m.divisor_override}) to NIR: "
                            "only average (no override) and sum (divisor_override=1) pooling exist in NIR")
        return nir.AvgPool2d(kernel_size=k, stride=s, padding=p)

    @staticmethod
    def _adaptive_avgpool(m: nn.AdaptiveAvgPool2d, path: str, in_shape: Shape) -> nir.NIRNode:
        out = m.output_size if isinstance(m.output_size, tuple | list) else (m.output_size, m.output_size)
        h, w = in_shape[1], in_shape[2]
        oh, ow = (h if out[0] is None else out[0]), (w if out[1] is None else out[1])
        if h % oh or w % ow:
            raise UserError(f"cannot export {path} (AdaptiveAvgPool2d({m.output_size}) on {h}x{w}) to NIR: its "
                            "windows are uneven; use an input size divisible by the output size or AvgPool2d")
        k = np.array([h // oh, w // ow], dtype=np.int64)
        # metadata: our importer rebuilds the same torch op (bit-identical on non-binary inputs too)
        return nir.AvgPool2d(kernel_size=k, stride=k.copy(), padding=np.zeros(2, dtype=np.int64),
                             metadata={"torch_module": "AdaptiveAvgPool2d", "output_size": [int(oh), int(ow)]})

    @staticmethod
    def _out_shape(m: nn.Module, path: str, in_shape: Shape) -> Shape:
        """Output shape of a stateless layer, by running it on one zero sample."""
        p = next(m.parameters(), None)
        x = torch.zeros(1, *in_shape, dtype=p.dtype if p is not None else torch.float32)
        try:
            with torch.no_grad():
                return tuple(int(d) for d in m(x).shape[1:])
        except (RuntimeError, IndexError) as e:  # IndexError: a dimension out of range
            first = str(e).splitlines()[0]
            raise UserError(f"cannot export {path} ({type(m).__name__}): it does not accept input shape "
                            f"{list(in_shape)} ({first})") from None


def _pair(v: int | tuple[int, ...]) -> np.ndarray:
    return np.array(v if isinstance(v, tuple | list) else (v, v), dtype=np.int64)


def _unsupported_message(m: nn.Module, path: str) -> str:
    kind = type(m).__name__
    hints = {
        nn.MaxPool2d: "NIR has no max pooling; for ResNets use model.stem 'cifar' (no max-pool), elsewhere "
                      "AvgPool2d or a stride-2 convolution",
        nn.BatchNorm1d: "this BatchNorm does not follow a conv/linear layer, so it could not be folded; put it "
                        "right after one",
        nn.BatchNorm2d: "this BatchNorm does not follow a conv/linear layer, so it could not be folded; put it "
                        "right after one",
        nn.ReLU: "ReLU is an ANN activation; export the SNN twin (model.kind 'snn')",
    }
    hint = next((h for t, h in hints.items() if isinstance(m, t)), None)
    if hint is None:
        hint = ("supported layers are Conv1d, Conv2d, Linear, LIF/IF, AvgPool2d, AdaptiveAvgPool2d, Flatten, "
                "BatchNorm after conv/linear, Identity, Dropout, nn.Sequential and ResNet BasicBlock; rewrite it "
                "with those")
    return f"cannot export {path} ({kind}) to NIR: {hint}"


def _top_level(model: nn.Module) -> list[tuple[str, nn.Module]]:
    if isinstance(model, TwinNet):
        return [("stem", model.stem), *model.stages(), ("head", model.head)]
    return [(name, child) for name, child in model.named_children()]


def to_nir(model: nn.Module, input_shape: list[int] | tuple[int, ...] | None = None,
           dt: float = DEFAULT_DT) -> nir.NIRGraph:
    """The NIR graph of a neurokd SNN (``TwinNet`` or an ``nn.Sequential`` of supported layers).

    Args:
        model: the SNN; it is not modified (BatchNorm is folded on a copy, see ``neurokd.models.fold``).
        input_shape: one sample's shape without batch/time, e.g. ``[1, 8, 8]``; default ``model.spec.input_shape``.
        dt: the time step in seconds that the Euler mapping uses (recorded in the metadata).
    Returns:
        A type-checked ``nir.NIRGraph`` with ``input`` and ``output`` nodes and neurokd metadata.
    """
    if not dt > 0:
        raise UserError(f"NIR export: dt must be > 0, got {dt}")
    if isinstance(model, TwinNet):
        if not model.is_snn:
            raise UserError(f"cannot export a {model.spec.arch} ANN to NIR: export the SNN twin (model.kind 'snn')")
        input_shape = input_shape if input_shape is not None else model.spec.input_shape
    elif not isinstance(model, nn.Sequential):
        raise UserError(f"cannot export {type(model).__name__} to NIR: pass a neurokd SNN (TwinNet) or an "
                        "nn.Sequential of supported layers")
    if input_shape is None:
        raise UserError("NIR export: input_shape is required (one sample's shape, e.g. [1, 8, 8])")
    param = next(model.parameters(), None)
    dtype = _NP_DTYPES.get(param.dtype if param is not None else torch.float32, np.float32)
    folded = fold_batchnorm(model).cpu()
    builder = _GraphBuilder(float(dt), dtype)
    src = builder.add("input", nir.Input(input_type={"input": np.array(list(input_shape))}), [],
                      tuple(int(d) for d in input_shape))
    for name, child in _top_level(folded):
        src = builder.walk(child, name, src)
    builder.add("output", nir.Output(output_type={"output": np.array(builder.shapes[src])}), [src],
                builder.shapes[src])
    if "subtract" in builder.resets:
        warnings.warn("NIR has no subtractive reset: other NIR tools will reset these neurons to 0 (neurokd's "
                      "importer honours the 'reset' metadata); train with reset 'zero' for portable graphs",
                      stacklevel=2)
    if builder.initial:
        warnings.warn(f"NIR has no initial membrane: other NIR tools will start {len(builder.initial)} neuron layers "
                      "at 0 instead of their v_init (neurokd's importer honours the 'v_init' metadata)", stacklevel=2)
    metadata = graph_metadata(model, float(dt), builder.resets)
    try:
        return nir.NIRGraph(nodes=builder.nodes, edges=builder.edges, metadata=metadata)
    except ValueError as e:  # nir's own type check: a shape we computed disagrees with nir's inference
        raise UserError(f"NIR export failed nir's type check: {str(e).splitlines()[0]}") from None


def graph_metadata(model: nn.Module, dt: float, resets: set[str]) -> dict[str, Any]:
    """Graph-level metadata: producer, dt, reset, encoding, T and readout (what NIR itself cannot say)."""
    meta: dict[str, Any] = {"producer": "neurokd", "neurokd_version": __version__, "dt": dt,
                            "discretization": "euler", "spike_amplitude": 1.0,
                            "reset": min(resets) if len(resets) == 1 else ("mixed" if resets else "none"),
                            "readout": "mean_over_time"}
    if isinstance(model, TwinNet):
        meta.update({"T": int(model.T), "encoding": model.spec.encoder, "arch": model.spec.arch})
    return meta
