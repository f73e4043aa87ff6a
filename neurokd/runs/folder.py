"""The run folder: one object for what training writes and every command reads.

::

    <out_dir>/<name>/config.yaml        effective configuration
                     metrics.jsonl      one JSON line per epoch
                     checkpoints/       epoch_NNNN.safetensors (atomic; the last ``keep_checkpoints`` kept)
                     model.safetensors  final weights + spec (loadable on its own)
                     model.json         the spec, for people
                     summary.json       final metrics

``Run.open(path)`` takes a run folder, or a model/checkpoint file (inside a run folder or on its own), and gives
the saved config, the model at a chosen T and one dataset split; training uses the same object to create the
folder and write into it (:meth:`Run.create`, :meth:`Run.append_metrics`, :meth:`Run.save_checkpoint`, ...).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

from neurokd.config import DataConfig, RunConfig, merge_data_config
from neurokd.configlib import load_yaml, parse_dataclass
from neurokd.errors import CheckpointError, ConfigError, UserError
from neurokd.io import read_text, write_json, write_yaml
from neurokd.models.spec import stored_spec
from neurokd.parsing import load_json_text
from neurokd.runs import checkpoint as ckpt
from neurokd.runs import metrics
from neurokd.runs.model_file import load_model, resolve_model_path


class Run:
    """A run folder (``folder``), or a model file with no run folder around it (``folder`` None)."""

    def __init__(self, folder: Path | None, model_file: Path | None = None):
        self.folder = folder
        self._model_file = model_file

    # ------------------------------------------------------------------------------------------------ reading

    @classmethod
    def open(cls, path: str | Path) -> Run:
        """A run folder, or a model / checkpoint file: its run folder is the one holding a ``config.yaml`` next
        to it (a checkpoint's is one level up); a file with neither stands alone."""
        path = Path(path)
        if path.is_dir():
            return cls(path)
        if not path.exists():
            raise CheckpointError(f"model path {path}: not found")
        for folder in (path.parent, path.parent.parent):
            if (folder / "config.yaml").is_file():
                return cls(folder, path)
        return cls(None, path)

    @property
    def name(self) -> str:
        """A label for tables: the folder's name, else the model file's stem."""
        return self.folder.name if self.folder is not None else self.model_file.stem

    @property
    def has_config(self) -> bool:
        return self.folder is not None and (self.folder / "config.yaml").is_file()

    @cached_property
    def config(self) -> RunConfig:
        """The effective config saved in the folder."""
        if self.folder is None:
            raise UserError(f"{self._model_file}: a model file outside a run folder has no config.yaml")
        return load_saved_config(self.folder)

    @property
    def model_file(self) -> Path:
        """``model.safetensors``, or the newest checkpoint of an unfinished run (or the file opened)."""
        return self._model_file if self._model_file is not None else resolve_model_path(self.folder)

    def model(self, T: int | None = None, map_location: str = "cpu"):
        """The trained twin in eval mode; an SNN runs ``T`` steps when given (the trained T otherwise)."""
        model = load_model(self.model_file, map_location)
        if T is not None and model.is_snn:
            model.set_T(T)
        return model

    def data_config(self, overrides: dict[str, Any] | None = None) -> DataConfig:
        """The run's ``data`` section with ``data.*`` overrides on top (overrides alone without a config)."""
        base = self.config.data.__dict__.copy() if self.has_config else {}
        return merge_data_config(base, overrides or {})

    @property
    def seed(self) -> int:
        return self.config.seed if self.has_config else 0

    def split(self, name: str, T: int | None = None, overrides: dict[str, Any] | None = None,
              progress: bool = True):
        """Split ``name`` of the run's dataset (or the one ``overrides`` name) in order and unaugmented; event data
        binned into ``T`` frames (the model's T) unless ``data.time_bins`` is set."""
        from neurokd.data import load_split

        return load_split(self.data_config(overrides), name, self.seed, T=T, progress=progress)

    def summary(self) -> dict[str, Any]:
        path = self._require_folder() / "summary.json"
        if not path.exists():
            raise UserError(f"run folder {self.folder}: no summary.json; has training finished?")
        summary = load_json_text(read_text(path, "run summary"), str(path))
        if not isinstance(summary, dict):
            raise UserError(f"run summary {path}: not a JSON object; rerun the training or remove the file")
        return summary

    def _require_folder(self) -> Path:
        if self.folder is None:
            raise UserError(f"{self._model_file}: not a run folder")
        return self.folder

    # --------------------------------------------------------------------------------------------- locations

    @property
    def config_path(self) -> Path:
        return self._require_folder() / "config.yaml"

    @property
    def metrics_path(self) -> Path:
        return self._require_folder() / "metrics.jsonl"

    def checkpoint_path(self, epoch: int) -> Path:
        return ckpt.checkpoint_path(self._require_folder(), epoch)

    def checkpoints(self) -> list[tuple[int, Path]]:
        """``(epoch, path)`` of the epoch checkpoints, oldest first."""
        return ckpt.list_checkpoints(self._require_folder())

    def metrics(self) -> list[dict[str, Any]]:
        return metrics.read_metrics(self.metrics_path)

    # ------------------------------------------------------------------------------------------------ writing

    @classmethod
    def check(cls, cfg: RunConfig, resume: bool, overwrite: bool) -> Run:
        """The run folder ``out_dir/name`` after checking it may be used as asked (changes nothing).

        ``name`` is a single folder name (checked by :class:`RunConfig`); the folder itself may not be a symbolic
        link, which could point the run (and ``--overwrite``'s deletion) anywhere.
        """
        run_dir = cfg.run_dir
        _refuse_symlink(run_dir)
        if resume:
            if not run_dir.is_dir():
                raise UserError(f"cannot resume: run folder {run_dir} does not exist; start it without --resume")
            return cls(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise UserError(f"run folder {run_dir} exists and is not a folder; choose another --name")
        if run_dir.exists() and any(run_dir.iterdir()) and not overwrite:
            raise UserError(f"run folder {run_dir} already exists; pass --resume to continue it, --overwrite to "
                            "replace it, or choose another --name")
        return cls(run_dir)

    @classmethod
    def create(cls, cfg: RunConfig, resume: bool, overwrite: bool) -> Run:
        """:meth:`check`, then create the folder (emptied first with ``overwrite``); a resumed folder drops the
        temporary files of writes a crash cut short."""
        run = cls.check(cfg, resume, overwrite)
        folder = run._require_folder()
        if resume:
            for tmp in [*folder.glob(".*.tmp"), *folder.glob("checkpoints/.*.tmp")]:
                tmp.unlink(missing_ok=True)
            return run
        if folder.exists() and any(folder.iterdir()):
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return run

    def write_config(self, cfg: RunConfig) -> None:
        """``config.yaml`` (the effective config) and ``model.json`` (its model spec, for people)."""
        write_yaml(self.config_path, cfg.to_dict())
        write_json(self.folder / "model.json", stored_spec(cfg.model.to_dict()))

    def append_metrics(self, record: dict[str, Any]) -> None:
        metrics.append_metrics(self.metrics_path, record)

    def truncate_metrics(self, upto_epoch: int) -> None:
        metrics.truncate_metrics(self.metrics_path, upto_epoch)

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """Newest checkpoint that reads cleanly (a damaged newest one falls back to the previous); None when
        there is none yet. Checkpoints that exist but are all unreadable stop the resume rather than start over."""
        import sys

        found = self.checkpoints()
        errors = []
        for _epoch, path in reversed(found):
            try:
                return ckpt.read_checkpoint(path)
            except CheckpointError as e:
                errors.append(str(e))
                print(f"neurokd: skipping unreadable checkpoint: {e}", file=sys.stderr)
        if found:
            raise CheckpointError(f"cannot resume {self.folder}: none of its {len(found)} checkpoints is readable "
                                  f"({errors[0]}); start over with --overwrite")
        return None

    def save_checkpoint(self, epoch: int, keep: int, **state: Any) -> None:
        """Write epoch ``epoch``'s checkpoint (see :func:`neurokd.runs.checkpoint.save_checkpoint`), then keep only
        the newest ``keep``."""
        ckpt.save_checkpoint(self.checkpoint_path(epoch), epoch=epoch, **state)
        for _epoch, path in self.checkpoints()[:-keep]:
            path.unlink(missing_ok=True)

    def save_model(self, model, spec: dict[str, Any], preprocessing=None) -> None:
        """``model.safetensors``: weights, spec and the input ``preprocessing`` the model was trained on."""
        extra = {"preprocessing": preprocessing.to_dict()} if preprocessing is not None else None
        ckpt.save_model_file(self._require_folder() / "model.safetensors", model, spec, extra=extra)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self._require_folder() / "summary.json", summary)

    def remove(self) -> None:
        """Delete the folder (a fresh run that failed before its first checkpoint)."""
        shutil.rmtree(self._require_folder(), ignore_errors=True)


def _refuse_symlink(run_dir: Path) -> None:
    if run_dir.is_symlink():
        raise ConfigError(f"config key 'name': run folder {run_dir} is a symbolic link; neurokd writes only into "
                          "real folders under out_dir (remove the link or choose another --name)")


def load_saved_config(run_dir: Path) -> RunConfig:
    """The effective config stored in a run folder."""
    path = run_dir / "config.yaml"
    if not path.exists() and not path.is_symlink():
        raise UserError(f"run folder {run_dir}: no config.yaml; is this a neurokd run folder?")
    return parse_dataclass(RunConfig, load_yaml(path))  # a regular file, bounded (configlib.load_yaml)


# What a resumed run may be told anew: where and how it runs, never what it computes. ``optim.epochs`` may grow:
# the run continues to the new count under the schedule that count implies (checked against the epochs done by
# the training loop, which knows them).
RESUME_MAY_CHANGE: tuple[str, ...] = (
    "out_dir", "name", "train.progress", "train.threads", "train.device", "train.checkpoint_every",
    "train.keep_checkpoints", "train.log_to", "data.root", "data.num_workers", "optim.epochs",
)


def effective_config(cfg: RunConfig, resume: bool, changes: Iterable[str] = ()) -> RunConfig:
    """``cfg``, or for a resumed run the config saved in its folder with the keys the caller set (``changes``,
    dotted) taken from ``cfg`` where :data:`RESUME_MAY_CHANGE` allows; any other key set to a different value is a
    ConfigError naming it. The folder's location (``out_dir``/``name``) and ``train.progress`` are always the
    caller's: the folder being resumed is where the run lives now (it may have been moved or copied)."""
    if not resume:
        return cfg
    _refuse_symlink(cfg.run_dir)
    saved = load_saved_config(cfg.run_dir)
    for key in sorted({*changes, "out_dir", "name", "train.progress"}):
        new, old = _get(cfg, key), _get(saved, key)
        if new == old:
            continue
        if key not in RESUME_MAY_CHANGE:
            allowed = ", ".join(k for k in RESUME_MAY_CHANGE if k not in ("out_dir", "name"))
            raise ConfigError(f"--resume: config key '{key}' is {old!r} in run {cfg.run_dir} and {new!r} here; a "
                              f"resumed run computes what it started with (it may change only {allowed}); start a "
                              "new run (another --name) to change it")
        _set(saved, key, new)
    return saved


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _set(cfg: Any, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        cfg = getattr(cfg, part)
    setattr(cfg, leaf, value)
