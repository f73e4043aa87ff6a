"""neurokd SNN -> netx network in Loihi 2 fixed point, with a per-layer quantization error report.

Mapping (BatchNorm folded first, :func:`neurokd.models.fold.fold_batchnorm`):

- Neuron. neurokd's ``h = beta*v + x; s = h > theta; v = 0 where s`` with ``x = W s_in + b`` is Lava's CUBA
  neuron with no synaptic filter: ``iDecay = 4096`` makes ``u = a_in`` every step (netx passes
  ``du = iDecay - 1`` and Lava adds ``ds_offset = 1``, so the effective current decay is exactly 4096/4096),
  and ``vDecay = round(4096 (1 - beta))`` makes ``v = trunc(v (4096 - vDecay) / 4096) + u + bias``
  (``dm_offset = 0``). Lava spikes on ``v > vThMant << 6`` and zeroes ``v`` in the same step, as neurokd's
  ``reset="zero"``. Subtractive reset has no CUBA equivalent and is refused, and so is a nonzero initial
  membrane (netx zeroes ``u`` and ``v`` at every sample's start and stores no initial state).
- Scale. Layer ``l`` computes in integer units ``S_l`` per float unit: weights ``round(W S_l)`` (8-bit,
  ``|w| <= 127``), bias ``round(b S_l)`` (netx fixes ``bias_exp = 6``: the bias is in weight units, 13-bit),
  threshold ``vThMant = theta S_l`` made exact by choosing ``S_l = vThMant / theta``. ``S_l`` is the largest
  value that keeps every one of those in range *and* the worst-case synaptic input ``sum |W| + |b|`` below
  ``2**17`` (so the 24-bit current can never wrap); the report names the limit that set it.
- Input (direct encoding). The first layer is a conv/dense layer fed *graded* spikes: the analog input
  quantised to ``input_bits`` (``x_int = round(x S_in)``) and repeated for T steps, so the encoding layer
  runs on chip as in the float SNN. ``S_in`` and the first layer's weight scale share the first layer's
  budget ``S_0 = S_in * S_w`` (balanced so neither gets far fewer levels than the other).
  Poisson-encoded models take binary input spikes instead.
- Readout. neurokd SNNs read the time-mean of the last linear layer (no neuron after it). That layer becomes a
  non-spiking CUBA layer (``vDecay = 0``, ``vThMant = 2**17 - 1`` never reached) whose membrane accumulates
  ``sum_t (W s_t + b)``; after the T steps of a sample it equals ``T * S_out * mean logits`` (``<< 6``), so
  ``argmax`` of it is the float SNN's prediction up to quantization. ``S_out`` also bounds
  ``T * (sum |W| + |b|)`` below ``2**17`` so the 24-bit membrane never saturates.

What netx cannot express (pooling, residual/skip connections, anything with its own ``forward``) raises a
:class:`~neurokd.errors.UserError` naming the module and what to use instead.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from neurokd.errors import UserError
from neurokd.exporters.lava.netx import (
    BIAS_MAX,
    DECAY_ONE,
    VTH_MAX,
    ConvLayer,
    Cuba,
    DenseLayer,
    FlattenLayer,
    InputLayer,
    NetxNetwork,
)
from neurokd.snn.neurons import LIF

WEIGHT_LEVELS = 127  # 8-bit signed weight mantissa, symmetric
ACT_LIMIT = (1 << 17) - 1  # |synaptic input| and |readout membrane| in weight units (24-bit state >> 6)
_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
          nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.LPPool2d)
_SKIPPED = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)


class ExportError(UserError):
    """The model cannot be written as a netx network."""


@dataclass
class LayerQuant:
    """Quantization of one layer. Errors are in float units of that layer's input current."""

    name: str
    kind: str  # conv | dense
    role: str  # spiking | readout
    scale: float  # integer units per float unit (S_l)
    limit: str  # what set the scale: weights | bias | threshold | range
    weight_max_int: int
    weight_max_abs_err: float
    weight_rel_rms_err: float
    bias_max_abs_err: float
    threshold: float | None
    v_th_mant: int | None
    beta: float
    beta_fixed: float


@dataclass
class QuantReport:
    """Per-layer report, plus the input quantization (graded input only)."""

    encoder: str
    input_scale: float
    input_levels: int
    input_max_abs_err: float
    layers: list[LayerQuant] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        from neurokd.tables import markdown_table

        rows = [[q.name, q.kind, q.role, f"{q.scale:.4g}", q.limit, q.weight_max_int, f"{q.weight_max_abs_err:.3g}",
                 f"{q.weight_rel_rms_err:.2%}", f"{q.bias_max_abs_err:.3g}",
                 "-" if q.v_th_mant is None else q.v_th_mant, f"{q.beta:.4g}->{q.beta_fixed:.4g}"]
                for q in self.layers]
        head = ["layer", "type", "role", "scale", "set by", "max |w|", "max w err", "rms w err", "max b err",
                "vThMant", "beta"]
        text = markdown_table(head, rows)
        if self.encoder == "direct":
            text += (f"\ninput: graded spikes, {self.input_levels} levels, scale {self.input_scale:.4g}, "
                     f"max abs error {self.input_max_abs_err:.3g}")
        return text


# ----------------------------------------------------------------------------------------- model walking

def _ops(module: nn.Module, path: str) -> list[tuple[str, nn.Module]]:
    """Leaf operations of ``module`` in forward order; refuses what netx cannot express."""
    if isinstance(module, nn.Sequential):
        out = []
        for name, child in module.named_children():
            out += _ops(child, f"{path}.{name}")
        return out
    if isinstance(module, _SKIPPED):
        return []
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Linear | nn.Flatten | LIF):
        return [(path, module)]
    kind = type(module).__name__
    if isinstance(module, _POOLS):
        raise ExportError(
            f"{path}: netx has no pooling layer ({kind}); train a model without pooling: --model.downsample "
            "stride for vgg, or the cnn/cnn1d archs (stride-2 convolutions)")
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        raise ExportError(f"{path}: BatchNorm that does not follow a conv/linear layer cannot be folded; "
                          "netx has no normalization layer")
    if any(True for _ in module.children()):
        raise ExportError(
            f"{path}: {kind} has its own forward (residual/skip connections), which netx cannot express (no "
            "add/concat layers); use --model.arch cnn or a vgg with --model.downsample stride")
    raise ExportError(f"{path}: layer type {kind} has no netx equivalent")


def model_ops(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The TwinNet's leaf operations (stem, stages, head) in forward order."""
    ops = _ops(model.stem, "stem")
    for name, stage in model.stages():
        ops += _ops(stage, name)
    return ops + _ops(model.head, "head")


@dataclass
class _Block:
    name: str
    op: nn.Module  # Conv1d/Conv2d/Linear (BN folded)
    neuron: LIF | None


def _blocks(ops: list[tuple[str, nn.Module]]) -> list[_Block]:
    blocks: list[_Block] = []
    pending_flatten = False
    i = 0
    while i < len(ops):
        path, m = ops[i]
        if isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise ExportError(f"{path}: only Flatten(start_dim=1, end_dim=-1) maps to a netx flatten layer")
            pending_flatten = True
            i += 1
            continue
        if isinstance(m, LIF):
            raise ExportError(f"{path}: a spiking neuron must follow a conv or linear layer (netx layers are "
                              "synapses + neurons)")
        neuron = ops[i + 1][1] if i + 1 < len(ops) and isinstance(ops[i + 1][1], LIF) else None
        if neuron is None and i + 1 < len(ops):
            raise ExportError(f"{path}: two weight layers in a row ({type(m).__name__} then "
                              f"{type(ops[i + 1][1]).__name__}); only the final readout layer may have no neuron")
        if isinstance(m, nn.Linear) and blocks and not isinstance(blocks[-1].op, nn.Linear) and not pending_flatten:
            raise ExportError(f"{path}: a linear layer after a convolution needs a Flatten before it")
        blocks.append(_Block(path, m, neuron))
        pending_flatten = False
        i += 2 if neuron is not None else 1
    if not blocks:
        raise ExportError("the model has no conv or linear layer")
    if blocks[-1].neuron is not None:
        raise ExportError(f"{blocks[-1].name}: the model ends in a spiking neuron; neurokd SNNs read out the "
                          "time-mean of a final linear layer, which this export maps to the output membrane")
    return blocks


def _check_model(model: nn.Module) -> None:
    spec = getattr(model, "spec", None)
    if spec is None or not hasattr(model, "stages"):
        raise ExportError("to_netx expects a neurokd TwinNet (from build_model / load_model)")
    if not model.is_snn:
        raise ExportError("this model is an ANN (kind=ann); export a spiking student (neurokd train / distill)")
    if spec.neuron.reset != "zero":
        raise ExportError("netx CUBA neurons reset the membrane to zero after a spike; this model uses "
                          "reset=subtract: retrain with --model.neuron.reset zero")
    started = next((name for name, m in model.named_modules() if isinstance(m, LIF) and m.v_init), None)
    if started is not None:
        raise ExportError(f"{started}: its membrane starts at {model.get_submodule(started).v_init:g}, but netx "
                          "neurons start every sample at 0 (the per-sample reset zeroes u and v, and a .net file has "
                          "no initial state); use a model with model.neuron.initial_membrane 0")


# ----------------------------------------------------------------------------------------- quantization

def _conv_params(op: nn.Module) -> dict[str, Any]:
    """Conv1d/Conv2d -> 2-D netx conv parameters (Conv1d runs as a 1-pixel-high image)."""
    if op.padding_mode != "zeros" or isinstance(op.padding, str):
        raise ExportError(f"{type(op).__name__} with padding={op.padding!r}, padding_mode={op.padding_mode!r}: "
                          "netx supports explicit zero padding only")
    w = op.weight.detach().double().cpu().numpy()
    if isinstance(op, nn.Conv1d):
        return {"w": w[:, :, None, :], "stride": (1, op.stride[0]), "padding": (0, op.padding[0]),
                "dilation": (1, op.dilation[0]), "groups": op.groups}
    return {"w": w, "stride": tuple(op.stride), "padding": tuple(op.padding), "dilation": tuple(op.dilation),
            "groups": op.groups}


def _row_abs_sum(w: np.ndarray) -> np.ndarray:
    """Worst-case |input current| per output unit for unit inputs: sum of |weights| feeding it."""
    return np.abs(w).reshape(w.shape[0], -1).sum(1)


def _decay(beta: float) -> tuple[int, float]:
    v_decay = int(round(DECAY_ONE * (1.0 - beta)))
    return v_decay, 1.0 - v_decay / DECAY_ONE


def _beta(neuron: LIF) -> float:
    b = neuron.beta
    return float(b.detach()) if isinstance(b, torch.Tensor) else float(b)


def _pick_scale(limits: dict[str, float]) -> tuple[float, str]:
    name = min(limits, key=limits.get)
    if not limits[name] > 0 or not math.isfinite(limits[name]):
        raise ExportError(f"cannot choose a fixed-point scale ({name} limit {limits[name]})")
    return limits[name], name


def exact_threshold(name: str, theta: float | None, scale: float) -> tuple[int | None, float]:
    """``(vThMant, scale)``: the threshold mantissa ``floor(theta S)`` and the scale ``vThMant / theta`` at which
    it is exact (``(None, scale)`` for a readout without threshold)."""
    if theta is None:
        return None, scale
    v_th = int(math.floor(theta * scale))
    if v_th < 1:
        raise ExportError(f"{name}: threshold {theta} quantizes to 0 at scale {scale:.3g}")
    return v_th, v_th / theta


@dataclass
class _Quantized:
    w_int: np.ndarray
    b_int: np.ndarray | None
    neuron: Cuba
    attrs: dict[str, Any]
    report: LayerQuant


def _float_params(blk: _Block, conv: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    op = blk.op
    w = conv["w"] if conv is not None else op.weight.detach().double().cpu().numpy()
    b = op.bias.detach().double().cpu().numpy() if op.bias is not None else np.zeros(w.shape[0])
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise ExportError(f"{blk.name}: weights or bias hold NaN/inf")
    if not np.abs(w).max() > 0:
        raise ExportError(f"{blk.name}: all weights are zero")
    return w, b


def _input_scale(w: np.ndarray, b: np.ndarray, x_max: float, in_levels: int) -> float:
    """Input levels per float unit for graded input: the first layer's budget ``S_0 = S_in * S_w`` is split so
    that the input and the weights get about the same number of levels (each capped by its bit width)."""
    wmax, bmax = float(np.abs(w).max()), float(np.abs(b).max())
    cap = min(BIAS_MAX / bmax if bmax > 0 else math.inf,
              ACT_LIMIT / float((_row_abs_sum(w) * x_max + np.abs(b)).max()), VTH_MAX)
    product = min(cap, in_levels * WEIGHT_LEVELS / (x_max * wmax)) * x_max * wmax  # input x weight levels
    lv_in = min(in_levels, max(1, int(math.sqrt(product))))
    lv_w = min(WEIGHT_LEVELS, product / lv_in)
    lv_in = min(in_levels, max(1, int(product / lv_w)))
    return lv_in / x_max


def _quantize_layer(blk: _Block, w: np.ndarray, b: np.ndarray, x_max: float, input_scale: float,
                    in_levels: int, T: int) -> _Quantized:
    """Integer weights/bias/threshold of one layer at the largest scale every limit allows (module doc).
    ``w``, ``b``: float weights (conv as 4-D) and bias; ``x_max``/``in_levels``: the input's float range and
    integer levels (1 for spikes); ``input_scale``: integer units per float unit of the input."""
    readout = blk.neuron is None
    theta = None if readout else float(blk.neuron.threshold)
    reps = T if readout else 1
    wmax, bmax = float(np.abs(w).max()), float(np.abs(b).max())
    limits = {"weights": input_scale * WEIGHT_LEVELS / wmax,
              "bias": BIAS_MAX / bmax if bmax > 0 else math.inf,
              "range": ACT_LIMIT / (reps * float((_row_abs_sum(w) * x_max + np.abs(b)).max()))}
    if theta is not None:
        limits["threshold"] = VTH_MAX / theta
    scale, limit = _pick_scale(limits)
    while True:
        v_th, scale = exact_threshold(blk.name, theta, scale)
        w_scale = scale / input_scale
        w_int = np.clip(np.rint(w * w_scale), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int64)
        b_int = np.clip(np.rint(b * scale), -BIAS_MAX, BIAS_MAX).astype(np.int64)
        # rounding may push the integer worst case over the limit: shrink the scale until it fits
        if reps * float((_row_abs_sum(w_int) * in_levels + np.abs(b_int)).max()) <= ACT_LIMIT:
            break
        scale *= 0.99
    if readout:
        neuron, beta, beta_fixed = Cuba(DECAY_ONE, 0, VTH_MAX), 1.0, 1.0
    else:
        beta = _beta(blk.neuron)
        v_decay, beta_fixed = _decay(beta)
        neuron = Cuba(DECAY_ONE, v_decay, v_th)
    role = "readout" if readout else "spiking"
    err = w_int / w_scale - w
    report = LayerQuant(
        blk.name, "conv" if w.ndim == 4 else "dense", role, scale, limit, int(np.abs(w_int).max()),
        float(np.abs(err).max()), float(np.sqrt((err ** 2).sum() / (w ** 2).sum())),
        float(np.abs(b_int / scale - b).max()), theta, v_th, beta, beta_fixed)
    has_bias = blk.op.bias is not None
    return _Quantized(w_int, b_int if has_bias else None, neuron, {"name": blk.name, "scale": scale, "role": role},
                      report)


def input_range(spec, calibration: torch.Tensor | np.ndarray | None, input_max: float | None,
                input_bits: int) -> tuple[float, bool, int]:
    """``(x_max, signed, levels)`` of the integer input: the largest ``|x|`` (from ``calibration`` inputs or
    ``input_max``), whether inputs go negative, and the levels per sign; ``(1, False, 1)`` for binary spikes."""
    if not 2 <= input_bits <= 16:
        raise ExportError(f"input_bits must be in [2, 16], got {input_bits}")
    if spec.encoder != "direct":
        return 1.0, False, 1
    if calibration is not None:
        x = np.asarray(calibration.detach().cpu() if isinstance(calibration, torch.Tensor) else calibration,
                       dtype=np.float64)
        if x.size == 0 or not np.all(np.isfinite(x)):
            raise ExportError("calibration inputs are empty or hold NaN/inf")
        x_max = float(np.abs(x).max()) if input_max is None else float(input_max)
        x_signed = bool(x.min() < 0)
    elif input_max is not None:
        x_max, x_signed = float(input_max), True
    else:
        raise ExportError("direct-encoded SNN: pass calibration inputs or input_max to set the input range")
    if not x_max > 0:
        raise ExportError(f"input range must be positive, got max |x| = {x_max}")
    return x_max, x_signed, (1 << (input_bits - 1)) - 1 if x_signed else (1 << input_bits) - 1


def export_meta(spec, report: QuantReport, input_signed: bool, input_bits: int, readout_scale: float) -> dict:
    """The metadata neurokd writes into every exported file: what :func:`~neurokd.exporters.lava.simulation.simulate`
    needs to encode inputs and decode the readout, plus the source model's description and the report."""
    direct = spec.encoder == "direct"
    return {
        "T": int(spec.T), "encoder": spec.encoder, "input_scale": report.input_scale, "input_signed": input_signed,
        "input_levels": report.input_levels, "input_message_bits": input_bits if direct else 0,
        "model_input_shape": [int(s) for s in spec.input_shape], "readout": "membrane",
        "readout_scale": readout_scale, "num_classes": int(spec.num_classes), "arch": spec.arch,
        "report": report.to_dict(),
        "neuron_reset": "zero", "initial_membrane": 0.0,  # the only neuron Lava runs (checked in _check_model)
    }


def quantize_model(model: nn.Module, calibration: torch.Tensor | np.ndarray | None = None,
                   input_max: float | None = None, input_bits: int = 8) -> tuple[NetxNetwork, QuantReport]:
    """Fold BN and quantize a neurokd SNN to a :class:`NetxNetwork`; returns it with its report.

    Direct-encoded models need the input range: ``calibration`` (representative inputs ``[N, *input_shape]``,
    e.g. the training split) or ``input_max`` (largest ``|x|``).
    """
    from neurokd.models.fold import fold_batchnorm

    _check_model(model)
    spec = model.spec
    blocks = _blocks(model_ops(fold_batchnorm(model)))
    T = int(spec.T)
    in_shape = tuple(int(s) for s in spec.input_shape)
    net_in_shape = (in_shape[0], 1, in_shape[1]) if len(in_shape) == 2 else in_shape
    direct = spec.encoder == "direct"
    x_max, x_signed, in_levels = input_range(spec, calibration, input_max, input_bits)

    layers: list[Any] = [InputLayer(net_in_shape)]
    quants: list[LayerQuant] = []
    shape: tuple[int, ...] = net_in_shape
    input_scale = readout_scale = 1.0
    for li, blk in enumerate(blocks):
        op = blk.op
        conv = _conv_params(op) if isinstance(op, nn.Conv1d | nn.Conv2d) else None
        if conv is None and len(shape) > 1:
            layers.append(FlattenLayer((int(np.prod(shape)), 1, 1)))
        w, b = _float_params(blk, conv)
        if li == 0 and direct:
            input_scale = _input_scale(w, b, x_max, in_levels)
        q = _quantize_layer(blk, w, b, x_max if li == 0 else 1.0, input_scale if li == 0 else 1.0,
                            in_levels if (li == 0 and direct) else 1, T)
        la: Any
        if conv is not None:
            la = ConvLayer((0, 0, 0), q.w_int, q.neuron, conv["stride"], conv["padding"], conv["dilation"],
                           conv["groups"], q.b_int, q.attrs)
            la.shape = la.output_shape(shape)
        else:
            la = DenseLayer((int(q.w_int.shape[0]),), q.w_int, q.neuron, q.b_int, q.attrs)
        layers.append(la)
        shape = tuple(la.shape)
        quants.append(q.report)
        if blk.neuron is None:
            readout_scale = q.report.scale
    report = QuantReport(spec.encoder, input_scale, in_levels if direct else 1,
                         0.5 / input_scale if direct else 0.0, quants)
    meta = export_meta(spec, report, x_signed, input_bits, readout_scale)
    return NetxNetwork(layers, meta), report
