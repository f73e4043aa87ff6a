"""Isolated Python environments with an older nir (and Sinabs), for reading neurokd's NIR 1.0.4 files.

nir 1.0.4 cannot share the project's environment (it pins nir 1.0.8), so each is a venv of the base interpreter
with its packages installed ``--no-deps`` from the package registry. The Sinabs one sees the project's torch,
numpy and h5py through a ``.pth`` file listed after its own site-packages, so its own nir 1.0.4 (and nirtorch
1.0) come first and no other torch is ever installed. Building needs the registry; failures return the reason.
"""

from __future__ import annotations

import site
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

SINABS = ["sinabs==3.1.3", "nirtorch==1.0", "pbr"]


def _run(cmd: list[str]) -> str | None:
    """None on success, else the last line of the error."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode == 0:
        return None
    lines = [x for x in (r.stderr or r.stdout).splitlines() if x.strip() and not x.startswith("WARNING")]
    return lines[-1] if lines else f"exit code {r.returncode}"


def build(root: Path, sinabs: bool = False) -> Path | str:
    """A venv under ``root`` with nir 1.0.4 (plus numpy and h5py at the project's versions; with ``sinabs``:
    Sinabs 3.1.3 over the project's torch). Returns its python, or the reason it could not be built."""
    python = root / "bin" / "python"
    if python.is_file():
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    err = _run([base, "-m", "venv", str(root)])
    if err is None:
        pkgs = ["nir==1.0.4", *SINABS] if sinabs else ["nir==1.0.4", f"numpy=={version('numpy')}",
                                                       f"h5py=={version('h5py')}"]
        err = _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", *pkgs])
    if err is not None:
        return f"cannot build the {'Sinabs' if sinabs else 'nir 1.0.4'} environment: {err}"
    if sinabs:  # the project's torch, numpy, h5py, after the venv's own packages
        own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                             capture_output=True, text=True).stdout.strip()
        Path(own, "neurokd_project.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python
