"""Read and validate a netx ``.net`` HDF5 file (neurokd's or lava-dl slayer's) into a
:class:`~neurokd.exporters.lava.netx.NetxNetwork`; every malformation is a one-line :class:`NetxFormatError`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from neurokd.exporters.lava.netx import (
    BIAS_MAX,
    DECAY_ONE,
    VTH_MAX,
    WEIGHT_MAX,
    WEIGHT_MIN,
    ConvLayer,
    Cuba,
    DenseLayer,
    FlattenLayer,
    InputLayer,
    Layer,
    NetxFormatError,
    NetxNetwork,
)
from neurokd.hdf5 import open_hdf5
from neurokd.limits import check_memory, limits
from neurokd.parsing import json_depth

EXACT_MAX = 2**53  # the largest magnitude a float64 (and so every reader) holds exactly
MAX_SIZE = 1 << 20  # shapes, strides, paddings, dilations, groups, T: far beyond any Loihi 2 network
STATE_BYTES_PER_NEURON = 32  # the NumPy model's int64 current, voltage, spike and input per neuron
# metadata attributes neurokd uses: key -> (min, max, how many values)
META_INTS: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "T": (1, MAX_SIZE, (1,)), "input_shape": (1, MAX_SIZE, (1, 3)), "model_input_shape": (1, MAX_SIZE, (1, 2, 3)),
    "num_classes": (1, MAX_SIZE, (1,)), "input_levels": (1, 1 << 24, (1,)), "input_message_bits": (0, 24, (1,)),
}
META_SCALES = ("input_scale", "readout_scale")


def _decode_attr(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str) and v[:1] in "[{" and json_depth(v) <= limits().max_depth:  # deeper: kept as text
        try:
            return json.loads(v)
        except ValueError:  # not JSON, or an integer of thousands of digits
            return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


class _Reader:
    """Reads one file, turning every malformation into a one-line :class:`NetxFormatError`."""

    def __init__(self, path: Path, input_shape: tuple[int, ...] | None = None):
        self.path = path
        self.input_shape = input_shape

    def fail(self, where: str, what: str) -> NetxFormatError:
        return NetxFormatError(f"{self.path}: {where}: {what}")

    def dataset(self, g, key: str, where: str, optional: bool = False):
        if key not in g:
            if optional:
                return None
            raise self.fail(where, f"missing '{key}'")
        obj = g[key]
        if not hasattr(obj, "shape"):
            raise self.fail(where, f"'{key}' is a group, expected a dataset")
        return obj[()]

    def string(self, g, key: str, where: str) -> str:
        v = self.dataset(g, key, where)
        if isinstance(v, np.ndarray):
            if v.size != 1:
                raise self.fail(where, f"'{key}' must hold one string, has {v.size} values")
            v = v.reshape(-1)[0]
        if isinstance(v, bytes):
            return v.decode("ascii", "replace")
        if isinstance(v, str):
            return v
        raise self.fail(where, f"'{key}' must be a string, got {type(v).__name__}")

    def ints(self, g, key: str, where: str, n: int | None = None, optional: bool = False) -> np.ndarray | None:
        v = self.dataset(g, key, where, optional)
        if v is None:
            return None
        a = np.asarray(v)
        if a.dtype.kind not in "iufb":
            raise self.fail(where, f"'{key}' must be numeric, got dtype {a.dtype}")
        if a.dtype.kind == "f":
            if not np.all(np.isfinite(a)):
                raise self.fail(where, f"'{key}' holds NaN/inf")
            if not np.array_equal(a, np.round(a)):
                raise self.fail(where, f"'{key}' holds non-integer values; netx would truncate them "
                                       "(write integer weights)")
        # values int64 cannot hold exactly would wrap (uint64) or round (float) in the cast below
        if a.size and a.dtype.kind in "uf" and float(np.abs(a).max()) > EXACT_MAX:
            raise self.fail(where, f"'{key}' holds {np.abs(a).max():.4g}, beyond any netx value (|x| <= 2^53)")
        a = a.astype(np.int64)
        if n is not None and a.size != n:
            raise self.fail(where, f"'{key}' must have {n} values, has {a.size}")
        return a

    def scalar(self, g, key: str, where: str) -> int:
        return int(self.ints(g, key, where, n=1).reshape(-1)[0])

    def pair(self, g, key: str, where: str, default: int) -> tuple[int, int]:
        """An (H, W) pair of integers in ``[default, MAX_SIZE]`` (stride/dilation >= 1, padding >= 0)."""
        a = self.ints(g, key, where, optional=True)
        if a is None:
            return (default, default)
        a = a.reshape(-1)
        if a.size not in (1, 2):
            raise self.fail(where, f"'{key}' must have 1 or 2 values, has {a.size}")
        if a.min() < default or a.max() > MAX_SIZE:
            raise self.fail(where, f"'{key}' must be between {default} and {MAX_SIZE}, got {a.tolist()}")
        return (int(a[0]), int(a[-1]))

    def neuron(self, g, where: str) -> Cuba:
        if "neuron" not in g:
            # netx's default for a neuron-less dense layer: a non-leaky integrator with a huge threshold
            return Cuba(0, DECAY_ONE, 1 << 17)
        n = g["neuron"]
        where = f"{where}/neuron"
        kind = self.string(n, "type", where)
        if kind not in ("CUBA", "LOIHI"):
            raise self.fail(where, f"neuron type {kind!r} is not supported (only CUBA/LOIHI)")
        if "messageBits" in n and self.scalar(n, "messageBits", where) != 0:
            raise self.fail(where, "graded-spike neurons (messageBits > 0) are not supported")
        try:
            cuba = Cuba(self.scalar(n, "iDecay", where), self.scalar(n, "vDecay", where),
                        self.scalar(n, "vThMant", where))
        except ValueError as e:
            raise self.fail(where, str(e)) from None
        if cuba.v_th_mant > VTH_MAX:
            raise self.fail(where, f"vThMant {cuba.v_th_mant} is over the 17-bit threshold mantissa of Loihi 2 "
                                   f"(at most {VTH_MAX})")
        return cuba

    what, error = "netx file", NetxFormatError  # how errors name the file, and their class

    def open(self):
        """The file, opened read-only after :func:`neurokd.hdf5.open_hdf5`'s checks (a regular file that reads
        nothing outside itself and declares nothing too large); a context manager."""
        return open_hdf5(self.path, self.what, self.error)

    def read(self) -> NetxNetwork:
        import h5py

        with self.open() as f:
            if "layer" not in f or not isinstance(f["layer"], h5py.Group):
                raise self.fail("/", "no 'layer' group; not a netx network description")
            keys = list(f["layer"].keys())
            if not keys:
                raise self.fail("/layer", "no layers")
            if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
                raise self.fail("/layer", f"layers must be named 0..{len(keys) - 1}, found {sorted(keys)}")
            meta = {k: _decode_attr(v) for k, v in f.attrs.items() if k != "format"}
            if self.input_shape is not None:
                meta["input_shape"] = list(self.input_shape)
            self.check_meta(meta)
            layers = [self.layer(f["layer"][str(i)], f"layer/{i}") for i in range(len(keys))]
        net = NetxNetwork(layers, meta)
        self.check_shapes(net)
        neurons = sum(int(np.prod(la.shape)) for la in net.layers)
        check_memory(neurons * STATE_BYTES_PER_NEURON, f"{self.path}: {neurons:,} neurons (one sample)",
                     "is it the right file?")
        return net

    def check_meta(self, meta: dict[str, Any]) -> None:
        """The metadata neurokd acts on (:data:`META_INTS`, :data:`META_SCALES`) is whole numbers in range and
        finite positive scales; normalised in place to Python ints / lists / floats."""
        for key, (lo, hi, counts) in META_INTS.items():
            if key not in meta:
                continue
            v = meta[key]
            a = np.asarray(v).reshape(-1) if isinstance(v, int | list | np.integer | np.ndarray) else np.zeros(0)
            if a.size not in counts or a.dtype.kind not in "iu" or a.min() < lo or a.max() > hi:
                raise self.fail("/", f"attribute '{key}' must be {' or '.join(map(str, counts))} integer(s) in "
                                     f"[{lo}, {hi}], got {str(v)[:40]}")
            meta[key] = int(a[0]) if counts == (1,) else [int(d) for d in a]
        for key in META_SCALES:
            if key in meta:
                v = meta[key]
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < float("inf"):
                    raise self.fail("/", f"attribute '{key}' must be a finite number > 0, got {str(v)[:40]}")
                meta[key] = float(v)

    def layer(self, g, where: str) -> Layer:
        kind = self.string(g, "type", where)
        shape = self.ints(g, "shape", where, optional=kind == "flatten")
        shape_t = tuple(int(s) for s in shape.reshape(-1)) if shape is not None else ()
        if any(s < 1 or s > MAX_SIZE for s in shape_t) or len(shape_t) > 3:
            raise self.fail(where, f"'shape' must be 1 to 3 sizes in [1, {MAX_SIZE}], got {list(shape_t)[:4]}")
        attrs = {k: _decode_attr(v) for k, v in g.attrs.items()}
        if kind == "input":
            if "neuron" in g:
                raise self.fail(where, "input layers with neurons are bias-driven in netx and cannot take "
                                       "input; not supported")
            return InputLayer(shape_t)
        if kind == "flatten":
            return FlattenLayer(shape_t)
        if kind == "conv":
            w = self.weight(g, where)
            if w.ndim == 5 and w.shape[-1] == 1:  # slayer keeps a trailing time-kernel axis
                w = w[..., 0]
            if w.ndim != 4:
                raise self.fail(where, f"conv 'weight' must be 4-D (out, in/groups, kH, kW), got {list(w.shape)}")
            if len(shape_t) != 3 or shape_t[0] != w.shape[0]:
                raise self.fail(where, f"conv 'shape' {list(shape_t)} must be (C, H, W) with C = "
                                       f"{w.shape[0]} output channels")
            groups = self.scalar(g, "groups", where) if "groups" in g else 1
            if not 1 <= groups <= MAX_SIZE:
                raise self.fail(where, f"'groups' must be between 1 and {MAX_SIZE}, got {groups}")
            bias = self.bias(g, where, w.shape[0])
            return ConvLayer(shape_t, w, self.neuron(g, where), self.pair(g, "stride", where, 1),
                             self.pair(g, "padding", where, 0), self.pair(g, "dilation", where, 1), groups, bias,
                             attrs)
        if kind == "dense":
            n_out = int(np.prod(shape_t)) if shape_t else 0
            w = self.weight(g, where)
            if w.ndim == 1:
                w = w.reshape(n_out, -1) if n_out and w.size % n_out == 0 else w
            if w.ndim != 2 or w.shape[0] != n_out:
                raise self.fail(where, f"dense 'weight' must be (out={n_out}, in), got {list(w.shape)}")
            if "delay" in g:
                raise self.fail(where, "synaptic delays are not supported by neurokd's simulator")
            return DenseLayer((n_out,), w, self.neuron(g, where), self.bias(g, where, n_out), attrs)
        if kind in ("pool", "average", "concat", "convT", "unpool", "dense_rec", "dense_comp"):
            raise self.fail(where, f"layer type {kind!r} is not supported (netx 0.6 implements input, conv, "
                                   "flatten and dense only)")
        raise self.fail(where, f"unknown layer type {kind!r}")

    def weight(self, g, where: str) -> np.ndarray:
        w = self.ints(g, "weight", where)
        if w.size and (w.min() < WEIGHT_MIN or w.max() > WEIGHT_MAX):
            raise self.fail(where, f"weights span [{w.min()}, {w.max()}], outside Loihi's synapse range "
                                   f"[{WEIGHT_MIN}, {WEIGHT_MAX}]")
        return w

    def bias(self, g, where: str, n: int) -> np.ndarray | None:
        b = self.ints(g, "bias", where, optional=True)
        if b is None:
            return None
        b = b.reshape(-1)
        if np.abs(b).max(initial=0) > BIAS_MAX + 1 or b.min(initial=0) < -BIAS_MAX - 1:
            raise self.fail(where, f"bias spans [{b.min()}, {b.max()}], outside the 13-bit bias mantissa "
                                   f"[{-BIAS_MAX - 1}, {BIAS_MAX}]")
        if b.size != n:
            raise self.fail(where, f"'bias' must have {n} values (one per output channel/neuron), has {b.size}")
        return b

    def check_shapes(self, net: NetxNetwork) -> None:
        """Walk the layers with the running feature shape, as netx connects them."""
        try:
            shape = net.input_shape
        except NetxFormatError as e:
            raise self.fail("layer/0", str(e).split(": ", 1)[-1]) from None
        flat = False
        for i, la in enumerate(net.layers):
            where = f"layer/{i}"
            if isinstance(la, InputLayer):
                if i != 0:
                    raise self.fail(where, "an 'input' layer may only come first")
            elif isinstance(la, FlattenLayer):
                flat = True
            elif isinstance(la, ConvLayer):
                if len(shape) != 3:
                    raise self.fail(where, f"conv layer gets a flat input of shape {list(shape)}")
                cin = la.in_channels
                if cin != shape[0] or la.groups < 1 or la.weight.shape[0] % la.groups:
                    raise self.fail(where, f"conv expects {cin} input channels (groups={la.groups}), the previous "
                                           f"layer gives {shape[0]}")
                expect = la.output_shape(shape)
                if tuple(la.shape) != expect:
                    raise self.fail(where, f"'shape' {list(la.shape)} does not match the convolution output "
                                           f"{list(expect)}")
                shape = tuple(la.shape)
            else:
                n_in = int(np.prod(shape))
                if len(shape) > 1 and not flat:
                    raise self.fail(where, f"dense layer after a {list(shape)} feature map needs a 'flatten' "
                                           "layer before it")
                if la.weight.shape[1] != n_in:
                    raise self.fail(where, f"dense 'weight' has {la.weight.shape[1]} inputs, the previous layer "
                                           f"gives {n_in}")
                shape, flat = tuple(la.shape), False
        if not net.synaptic_layers:
            raise self.fail("/layer", "no conv or dense layer")


def read_netx(path: str | Path, input_shape: tuple[int, ...] | None = None) -> NetxNetwork:
    """Read and validate a ``.net`` file (ours or slayer's); malformed files raise :class:`NetxFormatError`.

    ``input_shape`` (C, H, W) is needed only for files that start with a conv layer and no 'input' layer (as
    slayer writes them), as for netx's own loader.
    """
    return _Reader(Path(path), None if input_shape is None else tuple(input_shape)).read()
