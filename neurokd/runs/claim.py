"""Taking a run folder for a training run: the checks, the lock, and readying the folder for the first write.

A training run takes its folder in three steps (:meth:`neurokd.runs.Run.owned` runs them):

1. :func:`refuse_before_lock`: refusals that need no lock (``--resume`` with ``--overwrite``, a symbolic link or a
   file in the folder's place, resuming a folder that does not exist);
2. :func:`lock_folder`: create the folder if needed and take its lock (:mod:`neurokd.runs.lock`), before anything
   in it is written or deleted; :func:`refuse_state` then judges what the folder holds, under the lock;
3. :func:`ready`, just before the first write (so bad input found while setting up changes nothing): a resumed
   folder drops the temporary files of writes a kill cut short; a new run empties the folder.

What a kill leaves, and what the next run makes of it (every write is a temporary file renamed into place, so a
file is either whole or absent, except ``metrics.jsonl``'s last line, which a resume drops):

- nothing but the lock file and temporary files, or ``config.yaml`` and epoch records but no checkpoint (killed
  before the first checkpoint landed): *restartable*, a new run with the same name takes it over (saying so in one
  line); ``--resume`` trains it again from epoch 1 when its ``config.yaml`` landed, else says to start anew;
- a checkpoint (killed after one): ``--resume`` continues from it, a new run is refused with one line naming
  ``--resume`` and ``--overwrite``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from neurokd.errors import ConfigError, UserError
from neurokd.io import make_folders, writing
from neurokd.progress import log
from neurokd.runs.checkpoint import list_checkpoints
from neurokd.runs.lock import LOCK_NAME, FolderLock

# every entry training writes into a run folder (train.log_to adds metrics.csv and tensorboard/)
RUN_ENTRIES = frozenset({LOCK_NAME, "config.yaml", "model.json", "metrics.jsonl", "metrics.csv", "tensorboard",
                         "checkpoints", "model.safetensors", "summary.json"})
# what makes a folder worth keeping: a checkpoint (in checkpoints/) or a finished run's files; --overwrite deletes
# them first, so a kill during its deletion leaves a folder that is resumable or restartable, never half of each
_FINAL_FILES = ("model.safetensors", "summary.json")
_KEEPERS = ("checkpoints", *_FINAL_FILES)


def refuse_symlink(run_dir: Path) -> None:
    """The run folder itself may not be a symbolic link, which could point the run (and ``--overwrite``'s
    deletion) anywhere."""
    if run_dir.is_symlink():
        raise ConfigError(f"config key 'name': run folder {run_dir} is a symbolic link; neurokd writes only into "
                          "real folders under out_dir (remove the link or choose another --name)")


def refuse_before_lock(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """The refusals that need no lock and change nothing."""
    if resume and overwrite:
        raise UserError(f"--resume continues run folder {run_dir} and --overwrite replaces it: give one of them")
    refuse_symlink(run_dir)
    if (run_dir.exists() or run_dir.is_symlink()) and not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} exists and is not a folder; choose another --name")
    if resume and not run_dir.is_dir():
        raise UserError(f"cannot resume: run folder {run_dir} does not exist; start it without --resume")


def lock_folder(run_dir: Path, made: list[Path]) -> FolderLock:
    """Create ``run_dir`` (and missing parents, appended to ``made``) and take its lock. A folder that another
    process removes between the two is made again."""
    lock = FolderLock(run_dir)
    for _attempt in range(3):
        made.extend(make_folders(run_dir, run_dir))
        if lock.path.is_symlink():
            raise UserError(f"run folder {run_dir}: {LOCK_NAME} is a symbolic link; remove it (neurokd keeps "
                                 "its lock file there)")
        with writing(lock.path):
            try:
                lock.acquire()
                return lock
            except FileNotFoundError:
                continue  # the folder was removed meanwhile: make it again
    raise UserError(f"cannot lock run folder {run_dir}: it keeps disappearing; is another program removing it?")


def refuse_state(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Judge what the locked folder holds (see the module docstring); refuse with one line what the run may not
    do with it."""
    has_config = (run_dir / "config.yaml").is_file()
    if resume:
        _refuse_links(run_dir)
        if not has_config and restartable(run_dir):
            raise UserError(f"cannot resume: run folder {run_dir} holds no config.yaml (its first run stopped before "
                            "training began), so there is nothing to continue; start it again without --resume")
        if not has_config:
            raise UserError(f"cannot resume: run folder {run_dir} has no config.yaml and is not a neurokd run "
                            "folder; check --out-dir and --name")
        return
    if overwrite or not _contents(run_dir) or restartable(run_dir):
        return
    hint = "pass --resume to continue it, --overwrite to replace it" if has_config else "pass --overwrite to replace it"
    raise UserError(f"run folder {run_dir} already exists; {hint}, or choose another --name")


def restartable(run_dir: Path) -> bool:
    """A folder that holds only what a run stopped before its first checkpoint writes (no checkpoint, no model
    file, no summary; no symbolic link, nothing neurokd does not write), so a new run may take it over."""
    for p in _contents(run_dir):
        if p.is_symlink() or p.name in _FINAL_FILES or not (p.name in RUN_ENTRIES or _is_temp(p)):
            return False
    ckpts = run_dir / "checkpoints"
    if ckpts.is_symlink() or (ckpts.exists() and not ckpts.is_dir()):
        return False
    return not ckpts.is_dir() or all(_is_temp(p) for p in ckpts.iterdir())


def _refuse_links(run_dir: Path) -> None:
    """A resumed run writes into the entries its folder already has: none may be a symbolic link (which would
    send its writes, or the pruning of old checkpoints, outside the folder) and ``checkpoints`` must be a folder."""
    for p in [*run_dir.iterdir(), *_sub_entries(run_dir)]:
        if p.is_symlink():
            raise UserError(f"run folder {run_dir}: {p.relative_to(run_dir)} is a symbolic link; neurokd "
                                 "writes only real files inside a run folder (replace the link by a copy of what it "
                                 "points to, or start a new run)")
    ckpts = run_dir / "checkpoints"
    if ckpts.exists() and not ckpts.is_dir():
        raise UserError(f"run folder {run_dir}: checkpoints is not a folder; move it away to resume")


def _sub_entries(run_dir: Path) -> list[Path]:
    return [p for sub in ("checkpoints", "tensorboard") if (run_dir / sub).is_dir() and not (run_dir / sub).is_symlink()
            for p in (run_dir / sub).iterdir()]


def ready(run_dir: Path, resume: bool) -> None:
    """Ready the locked folder for the run's first write: a resumed folder drops the temporary files of writes a
    kill cut short (no other process writes it: this one holds the lock); a new run deletes whatever the folder
    holds (an ``--overwrite``, or a restartable run's leftovers), checkpoints and final files first."""
    if resume:
        for p in [*run_dir.iterdir(), *_sub_entries(run_dir)]:
            if _is_temp(p) and not p.is_dir():
                with writing(p, "remove"):
                    p.unlink(missing_ok=True)
        return
    contents = _contents(run_dir)
    if contents and restartable(run_dir):
        log(f"neurokd: run folder {run_dir} holds a run that stopped before its first checkpoint; starting it "
            "afresh")
    for p in sorted(contents, key=lambda p: p.name not in _KEEPERS):
        with writing(p, "remove"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)  # never follows a link inside it
            else:
                p.unlink()


def _contents(run_dir: Path) -> list[Path]:
    """The folder's entries but its lock file."""
    return [p for p in run_dir.iterdir() if p.name != LOCK_NAME]


def _is_temp(p: Path) -> bool:
    """A temporary file of neurokd's atomic writes (``.<name>.<pid>-<random>.tmp``, see :mod:`neurokd.io`)."""
    return p.name.startswith(".") and p.name.endswith(".tmp")


def keeps_checkpoint(run_dir: Path) -> bool:
    """Whether the folder holds an epoch checkpoint (then a failed run keeps it, to be resumed)."""
    try:
        return bool(list_checkpoints(run_dir))
    except OSError:
        return False

