"""Checkpoints and model files in safetensors (never pickle).

A *model file* (``model.safetensors``) holds the state dict and, in its metadata, the model spec: it is
loadable on its own. A *checkpoint* (``checkpoints/epoch_NNNN.safetensors``) adds the training state:
optimizer and scheduler state, the objective's extra modules (e.g. KD adapters), RNG state, the epoch and the
effective config. Both are written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from neurokd.errors import CheckpointError
from neurokd.io import atomic_path, open_regular
from neurokd.limits import check_memory
from neurokd.models.spec import stored_spec
from neurokd.parsing import load_json_text

MODEL_FORMAT = "neurokd-model/1"
CHECKPOINT_FORMAT = "neurokd-checkpoint/1"
_EPOCH_RE = re.compile(r"epoch_(\d+)\.safetensors$")


def _tensor_dict(prefix: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors (``optim.<param>.<key>``) and JSON-able metadata."""
    tensors, meta_state = {}, {}
    for pid, entries in state["state"].items():
        meta_state[str(pid)] = {}
        for key, val in entries.items():
            if isinstance(val, Tensor):
                tensors[f"optim.{pid}.{key}"] = val.detach().cpu().contiguous().clone()
            else:
                meta_state[str(pid)][key] = val
    return tensors, {"state": meta_state, "param_groups": state["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, Tensor], meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """The optimizer state dict; every parameter's entry must hold the same float tensors (e.g. AdamW's
    ``exp_avg``, ``exp_avg_sq``, ``step``), or the checkpoint was damaged."""
    try:
        state: dict[int, dict[str, Any]] = {int(pid): dict(v) for pid, v in meta["state"].items()}
        for name, t in tensors.items():
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = t
        groups = meta["param_groups"]
    except (KeyError, ValueError, TypeError, AttributeError):
        raise CheckpointError(f"checkpoint {path}: optimizer state is malformed") from None
    layouts = {tuple(sorted(k for k, v in entry.items() if isinstance(v, Tensor))) for entry in state.values()}
    if len(layouts) > 1 or any(not t.is_floating_point() for t in tensors.values()):
        raise CheckpointError(f"checkpoint {path}: optimizer state is inconsistent (missing, extra or non-float "
                              "tensors); resume from an older checkpoint")
    return {"state": state, "param_groups": groups}


def _check_finite(tensors: dict[str, Tensor], path: Path) -> None:
    for k, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"model file {path}: tensor '{k}' holds NaN or infinite values")


def _json_safe(obj: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in obj.items():
        try:
            json.dumps(v)
        except TypeError:
            continue
        out[k] = v
    return out


def save_model_file(path: str | Path, model: torch.nn.Module, spec: dict[str, Any], extra: dict | None = None) -> None:
    """Write ``model.safetensors``: weights plus the spec (an ANN's without SNN fields) and optional JSON
    ``extra`` (e.g. ``{"preprocessing": ...}``) in the metadata."""
    meta = {"format": MODEL_FORMAT, "spec": json.dumps(stored_spec(spec))}
    if extra:
        meta["extra"] = json.dumps(extra)
    with atomic_path(path) as tmp:
        save_file(_tensor_dict("", model.state_dict()), str(tmp), metadata=meta)


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    spec: dict[str, Any],
    config: dict[str, Any],
    epoch: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    objective_state: dict[str, Tensor] | None = None,
    scaler_state: dict[str, Any] | None = None,
) -> None:
    tensors = _tensor_dict("model.", model.state_dict())
    tensors.update(_tensor_dict("objective.", objective_state or {}))
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state().clone()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s.clone()
    meta = {
        "format": CHECKPOINT_FORMAT,
        "spec": json.dumps(spec),
        "config": json.dumps(config),
        "epoch": str(epoch),
        "optimizer": json.dumps(opt_meta),
        "scheduler": json.dumps(_json_safe(scheduler.state_dict())),
        "scaler": json.dumps(scaler_state or {}),
    }
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def read_safetensors(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors and the metadata of a safetensors file; unreadable files raise CheckpointError."""
    path = Path(path)
    with open_regular(path, "model file", CheckpointError) as fh:  # a regular file this process may read
        check_memory(os.fstat(fh.fileno()).st_size, f"model file {path}", "is it the right file?")  # tensors fill it
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise CheckpointError(f"model file {path}: not a readable safetensors file ({msg})") from None
    return tensors, meta


def _meta_json(meta: dict[str, str], key: str, path: Path) -> Any:
    if key not in meta:
        raise CheckpointError(f"model file {path}: metadata has no '{key}'; was it written by neurokd?")
    return load_json_text(meta[key], f"model file {path}: metadata '{key}'", CheckpointError)


def read_model_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Tensor], dict[str, Any]]:
    """``(spec, state_dict, extra)`` from a model file or a checkpoint."""
    path = Path(path)
    tensors, meta = read_safetensors(path)
    fmt = meta.get("format")
    if fmt not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise CheckpointError(f"model file {path}: not a neurokd model or checkpoint (format={fmt!r})")
    spec = _meta_json(meta, "spec", path)
    if fmt == CHECKPOINT_FORMAT:
        state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    else:
        state = tensors
    if not isinstance(spec, dict):
        raise CheckpointError(f"model file {path}: metadata 'spec' is not a model spec (a JSON object)")
    _check_finite(state, path)
    extra = _meta_json(meta, "extra", path) if "extra" in meta else {}
    return spec, state, extra


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Everything needed to resume: model/objective/optimizer tensors, states, epoch, config, RNG."""
    path = Path(path)
    tensors, meta = read_safetensors(path)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {path}: not a neurokd training checkpoint")
    groups: dict[str, dict[str, Tensor]] = {"model": {}, "objective": {}, "optim": {}, "rng": {}}
    for k, v in tensors.items():
        head, _, rest = k.partition(".")
        if head not in groups:
            raise CheckpointError(f"checkpoint {path}: unexpected tensor '{k}'")
        groups[head][k if head == "optim" else rest] = v
    _check_finite(tensors, path)
    if "torch" not in groups["rng"] or groups["rng"]["torch"].dtype != torch.uint8:
        raise CheckpointError(f"checkpoint {path}: no valid RNG state ('rng.torch')")
    try:
        epoch = int(meta["epoch"])
    except (KeyError, ValueError):
        raise CheckpointError(f"checkpoint {path}: metadata has no valid 'epoch'") from None
    spec, config = _meta_json(meta, "spec", path), _meta_json(meta, "config", path)
    if not isinstance(spec, dict) or not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {path}: metadata 'spec'/'config' are not JSON objects")
    return {
        "path": str(path),
        "epoch": epoch,
        "spec": spec,
        "config": config,
        "model": groups["model"],
        "objective": groups["objective"],
        "optimizer": _unflatten_optimizer(groups["optim"], _meta_json(meta, "optimizer", path), path),
        "scheduler": _meta_json(meta, "scheduler", path),
        "scaler": _meta_json(meta, "scaler", path) if "scaler" in meta else {},
        "rng": groups["rng"],
    }


def tensor_problem(found, expected) -> str | None:
    """Why a stored tensor cannot stand in for a model's ``expected`` one (None when it can): integer or bool data
    for float weights (and the reverse), a different shape, or NaN/inf values."""
    if found.is_floating_point() != expected.is_floating_point() or found.dtype == torch.bool:
        return f"has dtype {str(found.dtype).removeprefix('torch.')}, the model needs {str(expected.dtype).removeprefix('torch.')}"
    if tuple(found.shape) != tuple(expected.shape):
        return f"is {list(found.shape)} in the file, {list(expected.shape)} in the model"
    if found.is_floating_point() and not bool(torch.isfinite(found).all()):
        return "holds NaN or infinite values"
    return None


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"epoch_{epoch:04d}.safetensors"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of the run's epoch checkpoints, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _EPOCH_RE.search(p.name)
        if m and not p.name.startswith("."):
            found.append((int(m.group(1)), p))
    return sorted(found)
