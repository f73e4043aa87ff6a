"""Model files: ``load_model(path)`` rebuilds an ANN or SNN twin from a run folder, a model file or a checkpoint
(its stored spec + weights)."""

from __future__ import annotations

from pathlib import Path

from neurokd.data.preprocessing import InputPreprocessing
from neurokd.errors import CheckpointError, ConfigError
from neurokd.guard import check_inference
from neurokd.models import ModelSpec, TwinNet, build_model
from neurokd.runs.checkpoint import list_checkpoints, read_model_file, tensor_problem


def resolve_model_path(path: str | Path) -> Path:
    """A run folder resolves to its ``model.safetensors``, or its newest checkpoint if training is unfinished."""
    path = Path(path)
    if path.is_dir():
        final = path / "model.safetensors"
        if final.is_file():
            return final
        ckpts = list_checkpoints(path)
        if ckpts:
            return ckpts[-1][1]
        raise CheckpointError(f"run folder {path}: no model.safetensors and no checkpoints/; did training start?")
    if not path.exists():
        raise CheckpointError(f"model path {path}: not found")
    return path


def load_model(path: str | Path, map_location: str = "cpu") -> TwinNet:
    """Rebuild the model from its stored spec and load its weights (eval mode). ``model.preprocessing``: the
    input it was trained on (:class:`~neurokd.data.preprocessing.InputPreprocessing`; None in files written
    before neurokd stored it)."""
    file = resolve_model_path(path)
    spec_dict, state, extra = read_model_file(file)
    try:
        spec = ModelSpec.from_dict(spec_dict)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"model file {file}: stored spec is invalid ({e})") from None
    if not spec.input_shape or spec.num_classes is None:
        raise CheckpointError(f"model file {file}: stored spec has no input_shape/num_classes; was it written by "
                              "neurokd?")
    check_inference(spec, spec.T, 1, f"model file {file}")  # before build_model allocates anything
    try:
        model = build_model(spec)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"model file {file}: stored spec is invalid ({e})") from None
    missing, unexpected = _diff_keys(model.state_dict().keys(), state.keys())
    if missing or unexpected:
        raise CheckpointError(
            f"model file {file}: weights do not match its {spec.arch} spec "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})"
        )
    for key, tensor in state.items():
        why = tensor_problem(tensor, model.state_dict()[key])
        if why:
            raise CheckpointError(f"model file {file}: tensor '{key}' {why}")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise CheckpointError(f"model file {file}: weights do not fit the spec ({first})") from None
    model.preprocessing = stored_preprocessing(extra, file)
    return model.to(map_location).eval()


def stored_preprocessing(extra: dict, file: Path) -> InputPreprocessing | None:
    """The input preprocessing in a model file's ``extra`` metadata (None when it has none)."""
    data = extra.get("preprocessing") if isinstance(extra, dict) else None
    if data is None:
        return None
    try:
        if not isinstance(data, dict):
            raise ConfigError("not a JSON object")
        return InputPreprocessing.from_dict(data)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"model file {file}: stored input preprocessing is malformed ({e})") from None


def _diff_keys(expected, found) -> tuple[list[str], list[str]]:
    expected, found = set(expected), set(found)
    return sorted(expected - found), sorted(found - expected)
