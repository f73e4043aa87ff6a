"""Run folders and the files in them: :class:`Run` (open / create a run folder, its config, model, metrics,
checkpoints and dataset splits), model files (:func:`load_model`) and checkpoints (:mod:`neurokd.runs.checkpoint`)."""

from neurokd.runs.folder import Run, effective_config, load_saved_config
from neurokd.runs.model_file import load_model, resolve_model_path

__all__ = ["Run", "effective_config", "load_model", "load_saved_config", "resolve_model_path"]
