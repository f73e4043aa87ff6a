"""Layers import only downward, nothing names an upper layer in a string, and no module imports itself back.

Layers, bottom to top (docs/architecture.md):

0. core: ``neurokd.{snn, models, data, train, distill, eval, stream}`` and the shared modules beside them
   (``config``, ``errors``, ``io``, ...);
1. deployment: ``neurokd.exporters`` and ``neurokd.hardware`` (siblings: neither imports the other);
2. application: the package root (the public API), ``neurokd.cli``, ``neurokd.demo``, ``neurokd.registry``.

Every module is parsed (``ast``), never imported, so a module-level import, an import inside a function and a
``"module:attr"`` string are all seen.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# repository folder -> the package it installs as (pyproject.toml's package-dir)
SOURCES = {"neurokd": "neurokd", "exporters": "neurokd.exporters", "hardware": "neurokd.hardware"}
APPLICATION = ("neurokd.cli", "neurokd.demo", "neurokd.registry", "neurokd.api", "neurokd.sources", "neurokd.__main__")
DEPLOYMENT = ("neurokd.exporters", "neurokd.hardware")
LAYER_NAMES = ("core", "deployment", "application")
# a dotted module path of an upper layer, as code or a string would spell it (``exporters.nir`` too: the old name)
_UPPER_NAME = {
    0: re.compile(r"\b(neurokd\.(exporters|hardware|cli|demo|registry|api|sources)|(?<![\w.])(exporters|hardware)\.[a-z_])"),
    1: re.compile(r"\bneurokd\.(cli|demo|registry|api|sources)\b"),
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> int:
    if module == "neurokd" or any(_within(module, p) for p in APPLICATION):
        return 2
    if any(_within(module, p) for p in DEPLOYMENT):
        return 1
    return 0


def _group(module: str) -> str:
    """The deployment package a module belongs to (siblings may not import each other), else its layer."""
    return next((p for p in DEPLOYMENT if _within(module, p)), LAYER_NAMES[layer_of(module)])


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module

    def lazy_members(self) -> dict[str, str]:
        """A lazy package's ``_MEMBERS = {"name": "module", ...}`` (:mod:`neurokd.lazy`): what its names import."""
        for node in self.tree.body:
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_MEMBERS"
                                                     for t in node.targets) and isinstance(node.value, ast.Dict)):
                return {k.value: v.value for k, v in zip(node.value.keys, node.value.values)
                        if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
        return {}


def discover(sources: dict[str, str] = SOURCES, root: Path = ROOT) -> dict[str, Module]:
    mods = {}
    for folder, package in sources.items():
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            mods[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return mods


def imports_of(mod: Module, mods: dict[str, Module]) -> list[tuple[str, int]]:
    """``(imported neurokd module, line)`` for every import statement anywhere in the module; a name imported from
    a lazy package counts as an import of the module that defines it, and a lazy package imports its members."""
    known = set(mods)
    out = [(target, 1) for target in mod.lazy_members().values()]
    package = mod.name if mod.path.name == "__init__.py" else mod.name.rpartition(".")[0]
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule pkg.sub when there is one, a lazy member its module
            lazy = mods[base].lazy_members() if base in mods else {}
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else lazy.get(a.name, base)
                       for a in node.names]
        else:
            continue
        out.extend((t, node.lineno) for t in targets if _within(t, "neurokd"))
    return out


def strings_of(mod: Module) -> list[tuple[str, int]]:
    return [(n.value, n.lineno) for n in ast.walk(mod.tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def upward_imports(mods: dict[str, Module]) -> list[str]:
    bad = []
    for mod in mods.values():
        for target, line in imports_of(mod, mods):
            low, high = layer_of(mod.name), layer_of(target)
            if high > low or (low == high == 1 and _group(mod.name) != _group(target)):
                bad.append(f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} ({_group(mod.name)}) imports "
                           f"{target} ({_group(target)})")
    return bad


def upward_strings(mods: dict[str, Module]) -> list[str]:
    bad = []
    for mod in mods.values():
        pattern = _UPPER_NAME.get(layer_of(mod.name))
        if pattern is None:
            continue
        for text, line in strings_of(mod):
            hit = pattern.search(text)
            if hit:
                bad.append(f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} ({_group(mod.name)}) names "
                           f"{hit.group(0)!r} in a string")
    return bad


def import_cycles(mods: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. every import cycle."""
    graph = {m: sorted({t for t, _ in imports_of(mod, mods) if t in mods and t != m}) for m, mod in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return discover()


def test_every_import_points_down(modules):
    assert not upward_imports(modules), "\n".join(upward_imports(modules))


def test_no_lower_layer_names_an_upper_one_in_a_string(modules):
    assert not upward_strings(modules), "\n".join(upward_strings(modules))


def test_no_import_cycles(modules):
    assert not import_cycles(modules), "\n".join(" <-> ".join(c) for c in import_cycles(modules))


def test_layers_are_as_documented(modules):
    assert layer_of("neurokd.train.loop") == 0 and layer_of("neurokd.config") == 0
    assert layer_of("neurokd.exporters.nir.export") == 1 and layer_of("neurokd.hardware.counting") == 1
    assert layer_of("neurokd") == 2 and layer_of("neurokd.cli.report_cmd") == 2 and layer_of("neurokd.demo.run") == 2
    assert {"neurokd.train.loop", "neurokd.exporters.nir.export", "neurokd.cli"} <= set(modules)


# ----------------------------------------------------------------------------- the checks catch what they should

def _fake_tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Module]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in ("neurokd", "exporters", "hardware"):
        (tmp_path / folder).mkdir(exist_ok=True)
    return discover(SOURCES, tmp_path)


def test_checks_catch_an_upward_import_a_string_and_a_cycle(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    mods = _fake_tree(tmp_path, {
        "neurokd/__init__.py": "",
        "neurokd/train/__init__.py": "",
        "neurokd/train/loop.py": "def f():\n    from neurokd.exporters.nir import export\n",
        "neurokd/stream/backends.py": "REG = {'x': 'neurokd.hardware.demo:stage'}\nOLD = 'exporters.lava.stream:B'\n",
        "neurokd/config.py": "from neurokd.models import spec\n",
        "neurokd/models/__init__.py": "",
        "neurokd/models/spec.py": "import neurokd.config\n",
        "exporters/__init__.py": "",
        "exporters/nir/__init__.py": "",
        "exporters/nir/export.py": "from neurokd.hardware import counting\nfrom neurokd.cli import main\n",
        "hardware/__init__.py": "",
        "hardware/counting.py": "from neurokd.train import loop\n",
        "neurokd/cli.py": "from neurokd.exporters.nir import export\n",
    })
    ups = upward_imports(mods)
    assert any("neurokd.train.loop (core) imports neurokd.exporters.nir.export" in u for u in ups)
    assert any("imports neurokd.hardware.counting (neurokd.hardware)" in u for u in ups)  # sibling
    assert any("imports neurokd.cli (application)" in u for u in ups)
    assert not any(u.startswith("hardware/counting.py") or u.startswith("neurokd/cli.py") for u in ups)
    strings = upward_strings(mods)
    assert any("'neurokd.hardware'" in s for s in strings) and any("'exporters.l'" in s for s in strings)
    assert ["neurokd.config", "neurokd.models.spec"] in import_cycles(mods)
