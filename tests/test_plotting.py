"""Plots go through matplotlib's object API (``neurokd.plotting``): no plot code calls ``matplotlib.use`` or
pyplot, and calling every plot function leaves the session's backend and pyplot's figures as they were."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import matplotlib
import pytest

from neurokd.eval.robustness import save_robustness_plot
from neurokd.hardware.report import HardwareReport, write_report
from neurokd.stream.plot import plot_report
from tests.hardware.test_energy import make_counts
from tests.stream.test_plot import _report

ROOT = Path(__file__).resolve().parents[1]
CODE = ("neurokd", "hardware", "exporters", "benchmarks", "examples")


def _backend_switches_and_pyplot(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "use" \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "matplotlib":
            found.append(f"line {node.lineno}: matplotlib.use")
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
        found += [f"line {node.lineno}: import {n}" for n in names if n == "matplotlib.pyplot"]
    return found


def test_no_code_switches_the_backend_or_uses_pyplot():
    bad = {}
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            hits = _backend_switches_and_pyplot(ast.parse(path.read_text(), str(path)))
            if hits:
                bad[str(path.relative_to(ROOT))] = hits
    assert not bad


def _robustness_result() -> dict:
    return {"clean": {"ann": 0.9, "snn": 0.8},
            "corruptions": {"noise": {"severities": [0.1, 0.2], "unit": "std"},
                            "shift": {"severities": [1, 2], "unit": "px"}},
            "acc": {"noise": {"ann": [0.8, 0.7], "snn": [0.75, 0.6]},
                    "shift": {"ann": [0.85, 0.5], "snn": [0.7, 0.4]}}}


def _ratebp_plot(path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import ratebp_memory  # benchmarks is not a package
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    point = {"peak_mb": 10.0, "step_s": 0.1}
    res = {"meta": {"batch": 4}, "cnn1d": {"2": {"bptt": point, "rate": point}, "4": {"bptt": point, "rate": point}}}
    ratebp_memory._plot(res, path)


PLOTS = {
    "stream": lambda out: plot_report(_report([0.4, 0.5, 8.0]), out / "stream.png"),
    "robustness": lambda out: save_robustness_plot(_robustness_result(), out / "robustness.png"),
    "hardware report": lambda out: write_report(HardwareReport(title="net", snn=make_counts()), out),
    "ratebp_memory benchmark": lambda out: _ratebp_plot(out / "ratebp.png"),
}


@pytest.mark.parametrize("name", list(PLOTS))
def test_plot_functions_leave_the_backend_and_pyplot_alone(name, tmp_path, monkeypatch):
    original, use = matplotlib.get_backend(), matplotlib.use
    use("svg")  # a session's own backend (Jupyter's inline, a GUI one): it must survive the plot
    try:
        def refuse(*args, **kwargs):
            raise AssertionError(f"matplotlib.use{args} called")

        monkeypatch.setattr(matplotlib, "use", refuse)
        pyplot = sys.modules.get("matplotlib.pyplot")
        open_before = pyplot.get_fignums() if pyplot else []
        PLOTS[name](tmp_path)
        assert matplotlib.get_backend() == "svg"
        pyplot = sys.modules.get("matplotlib.pyplot")
        assert (pyplot.get_fignums() if pyplot else []) == open_before  # no figure left in pyplot's registry
        monkeypatch.undo()
    finally:
        use(original)
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
