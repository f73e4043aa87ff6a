"""Teachers from anywhere: a neurokd run folder or model file, a bare state dict, an ONNX file, any module.

``load_teacher(source, input_shape, num_classes)`` returns a frozen module (eval mode, ``requires_grad_(False)``)
that maps ``[B, *input_shape]`` to logits ``[B, num_classes]``:

- a run folder, ``model.safetensors`` or checkpoint written by neurokd: the ANN (or SNN) twin it stores;
- a bare ``.safetensors`` state dict, or a ``.pt``/``.pth`` one read with ``torch.load(weights_only=True)``
  (never unpickled): a zoo model whose parameter names and shapes match it. ``arch`` pins the zoo
  architecture (otherwise every architecture for the input rank is tried); width, ResNet stem and VGG
  down-sampling are read off the weights. torchvision ResNet names (``conv1``, ``bn1``, ``layerN``, ``fc``)
  are mapped to the zoo's (``stem.0``, ``stem.1``, ``stageN``, ``head.2``);
- an ``.onnx`` file: converted to PyTorch with onnx2pytorch, then run once next to onnxruntime on a seeded
  random batch; the conversion is accepted only if the two agree;
- an ``nn.Module`` (Python API): used as is.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import re
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import torch
from torch import Tensor, nn

from neurokd.errors import CheckpointError, UserError
from neurokd.io import check_regular, open_regular
from neurokd.limits import check_memory
from neurokd.models import ARCHS, ModelSpec, build_model, input_rank
from neurokd.models.resnet import RESNET_CFGS
from neurokd.runs.checkpoint import CHECKPOINT_FORMAT, MODEL_FORMAT, read_safetensors, tensor_problem

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin")
ONNX_CHECK_TOL = 1e-4  # max |torch - onnxruntime| allowed, relative to max(1, max |logit|)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a teacher never trains."""
    model.eval()
    model.requires_grad_(False)
    return model


def load_teacher(
    source: str | Path | nn.Module,
    input_shape: list[int] | tuple[int, ...],
    num_classes: int,
    arch: str | None = None,
) -> nn.Module:
    """A frozen teacher from a path (see the module docstring) or a module."""
    if isinstance(source, nn.Module):
        return freeze(source)
    path = Path(source)
    if not path.exists():
        raise UserError(f"teacher {path}: not found; pass a run folder, .safetensors, .pt/.pth or .onnx file")
    if path.is_dir():
        return freeze(_neurokd_model(path, input_shape, num_classes))
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        tensors, meta = read_safetensors(path)
        if meta.get("format") in (MODEL_FORMAT, CHECKPOINT_FORMAT):
            return freeze(_neurokd_model(path, input_shape, num_classes))
        return freeze(teacher_from_state_dict(tensors, input_shape, num_classes, arch, str(path)))
    if suffix in STATE_DICT_SUFFIXES:
        return freeze(teacher_from_state_dict(read_torch_state_dict(path), input_shape, num_classes, arch, str(path)))
    if suffix == ".onnx":
        return freeze(teacher_from_onnx(path, input_shape, num_classes))
    raise UserError(
        f"teacher {path}: unknown file type '{path.suffix}'; expected a neurokd run folder, .safetensors, "
        ".pt/.pth (state dict) or .onnx"
    )


def _neurokd_model(path: Path, input_shape, num_classes: int) -> nn.Module:
    from neurokd.runs.model_file import load_model

    model = load_model(path)
    spec = model.spec
    if spec.num_classes != num_classes or list(spec.input_shape or []) != list(input_shape):
        raise UserError(
            f"teacher {path}: trained for input {list(spec.input_shape or [])} with {spec.num_classes} classes, "
            f"but the student's dataset has input {list(input_shape)} with {num_classes} classes"
        )
    return model


# ------------------------------------------------------------------------------------------- state dicts

def read_torch_state_dict(path: Path) -> dict[str, Tensor]:
    """A state dict from a ``.pt``/``.pth`` file via ``torch.load(weights_only=True)`` (no arbitrary unpickling)."""
    with open_regular(path, "teacher") as fh:
        _check_torch_zip(fh, path)
        try:
            obj = torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for bad files
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(
                f"teacher {path}: not a readable weights-only PyTorch file ({first[:160]}); save "
                "model.state_dict() with torch.save, or use safetensors"
            ) from None
    for key in ("state_dict", "model", "model_state_dict"):  # common training-script wrappers
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise UserError(
            f"teacher {path}: holds a {type(obj).__name__}, not a state dict of tensors; "
            "save model.state_dict() rather than the model object"
        )
    return obj


def _check_torch_zip(fh: BinaryIO, path: Path) -> None:
    """The file is a ``torch.save`` zip archive whose tensors fit the memory limit, checked before torch reads it:
    a legacy (pre-1.6) file or a compressed entry could make torch allocate what the file only declares."""
    try:
        entries = zipfile.ZipFile(fh).infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UserError(f"teacher {path}: not a readable weights-only PyTorch file (not a torch.save zip archive, "
                        "which torch >= 1.6 writes; a legacy file declares sizes it does not hold); re-save it "
                        "with torch.save, or use safetensors") from None
    packed = [e.filename for e in entries if e.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise UserError(f"teacher {path}: entry '{packed[0]}' is compressed, which torch.save never writes; "
                        "re-save it with torch.save, or use safetensors")
    check_memory(sum(e.file_size for e in entries), f"teacher {path}", "is it the right file?")
    fh.seek(0)


_TORCHVISION_TOP = {"conv1": "stem.0", "bn1": "stem.1", "fc": "head.2"}


def torchvision_to_zoo(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename torchvision ResNet keys (``conv1``, ``bn1``, ``layerN``, ``fc``) to the zoo's; a ``module.``
    prefix (DataParallel) is dropped. Keys already in zoo form are kept."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        head, dot, rest = key.partition(".")
        if head in _TORCHVISION_TOP:
            key = _TORCHVISION_TOP[head] + dot + rest
        elif re.fullmatch(r"layer\d+", head):
            key = "stage" + head[len("layer"):] + dot + rest
        out[key] = value
    return out


def _first_conv_width(state: dict[str, Tensor]) -> int | None:
    for key in ("stem.0.weight", "stage1.0.weight"):
        if key in state and state[key].ndim >= 3:
            return int(state[key].shape[0])
    return None


def _candidate_specs(arch: str, input_shape, num_classes: int, width: int | None) -> Iterator[ModelSpec]:
    stems = ("cifar", "imagenet") if arch in RESNET_CFGS else ("auto",)  # resnet1d has one stem
    downsamples = ("avgpool", "stride") if arch.startswith("vgg") else ("avgpool",)
    for stem in stems:
        for down in downsamples:
            yield ModelSpec(arch=arch, kind="ann", stem=stem, downsample=down, width=width,
                            num_classes=num_classes, input_shape=list(input_shape))


def _mismatch(model: nn.Module, state: dict[str, Tensor]) -> str | None:
    """None when ``state`` fits ``model`` exactly, else a short reason."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        return f"missing {missing[:2]}, unexpected {unexpected[:2]}"
    for k, v in state.items():
        why = tensor_problem(v, expected[k])
        if why:
            return f"{k} {why}"
    return None


def teacher_from_state_dict(
    state: dict[str, Tensor], input_shape, num_classes: int, arch: str | None = None, origin: str = "state dict"
) -> nn.Module:
    """The zoo ANN whose parameters match ``state`` exactly (after torchvision renaming), weights loaded."""
    state = torchvision_to_zoo(state)
    width = _first_conv_width(state)
    rank = len(input_shape)
    archs = [arch] if arch else [a for a in ARCHS if input_rank(a) == rank]
    reasons = []
    for name in archs:
        for spec in _candidate_specs(name, input_shape, num_classes, width):
            try:
                with torch.random.fork_rng():
                    model = build_model(spec)
            except (ValueError, RuntimeError) as e:
                reasons.append(f"{name}: {e}")
                break
            why = _mismatch(model, state)
            if why is None:
                model.load_state_dict(state, strict=False)  # num_batches_tracked may be absent
                return model
            reasons.append(f"{name} ({spec.stem}/{spec.downsample}): {why}")
    pin = "" if arch else "; set distill.teacher_arch to the architecture it was saved from"
    raise CheckpointError(
        f"teacher {origin}: weights match no zoo {'/'.join(archs) if arch else 'architecture'} for input "
        f"{list(input_shape)} with {num_classes} classes (closest: {reasons[0] if reasons else 'none'}){pin}"
    )


# -------------------------------------------------------------------------------------------------- ONNX

_TORCHVISION_STUB_MODULES = ("torchvision", "torchvision.ops", "torchvision.io")


@contextlib.contextmanager
def _torchvision_import_stub() -> Iterator[None]:
    """Let ``import onnx2pytorch`` succeed without torchvision, which has no CPU build for our torch.

    onnx2pytorch imports torchvision at import time only for five detection/image operators (RoiAlign,
    MaxRoiPool, NonMaxSuppression, DeformConv, ImageDecoder); classifiers never use them. While the import
    runs, a stub package stands in whose functions raise a clear error; it is removed right after so other
    code (e.g. torch.onnx) still sees torchvision as absent. With torchvision installed this does nothing.
    """
    if importlib.util.find_spec("torchvision") is not None:
        yield
        return

    def unavailable(*_args, **_kwargs):
        raise UserError("this ONNX model uses a detection/image operator that needs torchvision (not installed)")

    stubs = {name: types.ModuleType(name) for name in _TORCHVISION_STUB_MODULES}
    for fn in ("roi_align", "roi_pool", "nms", "box_convert", "deform_conv2d"):
        setattr(stubs["torchvision.ops"], fn, unavailable)
    stubs["torchvision.io"].decode_image = unavailable
    stubs["torchvision.io"].ImageReadMode = types.SimpleNamespace(UNCHANGED=0, GRAY=1, RGB=3)
    stubs["torchvision"].ops, stubs["torchvision"].io = stubs["torchvision.ops"], stubs["torchvision.io"]
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name in _TORCHVISION_STUB_MODULES:
            if sys.modules.get(name) is stubs[name]:
                del sys.modules[name]


def _onnx_modules():
    try:
        onnx = importlib.import_module("onnx")
        ort = importlib.import_module("onnxruntime")
        with _torchvision_import_stub():
            onnx2pytorch = importlib.import_module("onnx2pytorch")
    except ImportError as e:
        raise UserError(
            f"ONNX teachers need onnx, onnxruntime and onnx2pytorch ({e.name} is missing): "
            "pip install 'neurokd[onnx]' && pip install --no-deps onnx2pytorch==0.6.0"
        ) from None
    return onnx, ort, onnx2pytorch


def _load_onnx(onnx, path: Path):
    """The model in an ONNX file with its external data (only regular files inside the model's folder), all of
    it within the memory limit, checked; every problem is one :class:`UserError` line."""
    from onnx.external_data_helper import _get_all_tensors, load_external_data_for_model

    with open_regular(path, "teacher") as fh:
        check_memory(os.fstat(fh.fileno()).st_size, f"teacher {path}", "is it the right file?")
        raw = fh.read()
    try:
        proto = onnx.load_model_from_string(raw)  # external data is loaded below, once checked
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"teacher {path}: not a valid ONNX model ({first[:160]})") from None
    folder = path.parent.resolve()
    declared = 0
    for t in _get_all_tensors(proto):
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 1
        if any(d < 0 for d in t.dims):
            raise UserError(f"teacher {path}: tensor '{t.name}' has negative dimensions {list(t.dims)}")
        declared += math.prod(t.dims) * itemsize
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            where = (folder / info.get("location", "")).resolve()
            if not where.is_relative_to(folder) or where == folder:
                raise UserError(f"teacher {path}: tensor '{t.name}' keeps its data in {info.get('location')!r}, "
                                "outside the model's folder; refused (copy the data next to the model)")
            check_regular(where, f"teacher {path}: external data of tensor '{t.name}'")
    check_memory(declared, f"teacher {path}", "is it the right file?")
    try:
        load_external_data_for_model(proto, str(folder))
        onnx.checker.check_model(proto)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"teacher {path}: not a valid ONNX model ({first[:160]})") from None
    return proto


def _onnx_batch(shape: list) -> int:
    """Batch size to probe with: the file's fixed batch dimension, else 2."""
    return shape[0] if shape and isinstance(shape[0], int) and shape[0] > 0 else 2


def teacher_from_onnx(path: str | Path, input_shape, num_classes: int, tol: float = ONNX_CHECK_TOL) -> nn.Module:
    """Convert an ONNX classifier with onnx2pytorch and prove the conversion against onnxruntime once."""
    path = Path(path)
    onnx, ort, onnx2pytorch = _onnx_modules()
    proto = _load_onnx(onnx, path)
    graph_inputs = [i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(graph_inputs) != 1 or len(proto.graph.output) != 1:
        raise UserError(
            f"teacher {path}: an ONNX teacher needs one input and one output, this one has "
            f"{len(graph_inputs)} and {len(proto.graph.output)}"
        )
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in
            graph_inputs[0].type.tensor_type.shape.dim]
    fixed = dims[1:]
    if len(fixed) != len(input_shape) or any(isinstance(d, int) and d != s for d, s in zip(fixed, input_shape)):
        raise UserError(
            f"teacher {path}: takes input {dims}, but the student's dataset gives [B, "
            f"{', '.join(map(str, input_shape))}]"
        )
    try:
        model = onnx2pytorch.ConvertModel(proto).eval()
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"teacher {path}: onnx2pytorch cannot convert it ({type(e).__name__}: {first[:160]})") from None
    g = torch.Generator().manual_seed(0)
    x = torch.randn(_onnx_batch(dims), *input_shape, generator=g)
    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        ref = torch.from_numpy(session.run(None, {graph_inputs[0].name: x.numpy()})[0])
        with torch.no_grad():
            out = model(x)
    except UserError:
        raise
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"teacher {path}: cannot run it on a batch {list(x.shape)} ({first[:160]})") from None
    if not isinstance(out, Tensor) or out.shape != ref.shape:
        raise UserError(f"teacher {path}: the converted model's output does not match onnxruntime's shape")
    if out.ndim != 2 or out.shape[1] != num_classes:
        raise UserError(
            f"teacher {path}: outputs {list(out.shape)}, but the student's dataset has {num_classes} classes"
        )
    err = (out.float() - ref.float()).abs().max().item()
    scale = max(1.0, ref.abs().max().item())
    if not err <= tol * scale:
        raise UserError(
            f"teacher {path}: the onnx2pytorch conversion disagrees with onnxruntime (max |diff| {err:.3g} > "
            f"{tol * scale:.3g}); the file uses an operator the converter gets wrong"
        )
    model.onnx_check_max_abs_diff = err  # recorded for the run summary
    return model


__all__ = ["freeze", "load_teacher", "read_torch_state_dict", "teacher_from_onnx", "teacher_from_state_dict",
           "torchvision_to_zoo"]
