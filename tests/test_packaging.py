"""The distribution installs one namespace, ``neurokd``: the repository's ``exporters/`` and ``hardware/`` folders
become ``neurokd.exporters`` and ``neurokd.hardware`` (pyproject.toml), and nothing else reaches the top level."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_folders() -> dict[str, Path]:
    """Installed package name -> source folder, for every folder holding an ``__init__.py``."""
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    roots = {"neurokd": ROOT / "neurokd", **{pkg: ROOT / folder for pkg, folder in dirs.items()}}
    found = {}
    for package, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found[".".join([package, *rel])] = init.parent
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = set(_package_folders())
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - folders == set(), "listed in pyproject.toml but not a package folder"


def test_installed_names_resolve_to_the_repository_folders():
    import neurokd.exporters.lava
    import neurokd.hardware.chips

    assert Path(neurokd.exporters.lava.__file__).parent == ROOT / "exporters" / "lava"
    assert Path(neurokd.hardware.chips.__file__).parent == ROOT / "hardware" / "chips"


def test_wheel_holds_only_the_neurokd_namespace(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("neurokd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"neurokd", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}, top
    assert "neurokd/exporters/lava/netx.py" in names and "neurokd/hardware/chips/loihi2.yaml" in names
    assert "neurokd/cli/__init__.py" in names and "neurokd/demo/run.py" in names
