"""``neurokd report``: Markdown, LaTeX (booktabs), JSON and PNG; bad input -> one line, exit code 2."""

import json
from types import SimpleNamespace

import pytest

from hardware.chips import resolve_chip
from hardware.energy import estimate_energy
from hardware.report import HardwareReport, to_latex, to_markdown
from neurokd.cli import main
from neurokd.config import RunConfig, build_config
from neurokd.train import run_training
from tests.cli.test_cli import _one_line_error as one_line_error
from tests.hardware.test_energy import make_counts


@pytest.fixture
def neurokd(capsys):
    """Run the ``neurokd`` command in this process (a subprocess would spend seconds importing torch)."""

    def run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    common = {"out_dir": str(out), "optim.epochs": 2, "model.width": 8, "train.progress": False,
              "train.threads": 1, "model.T": 2}
    for name, kind in (("teacher", "ann"), ("snn", "snn")):
        run_training(build_config(RunConfig, overrides={**common, "name": name, "model.kind": kind}))
    return out


def test_report_cli_writes_all_formats(runs, tmp_path, neurokd):
    out = tmp_path / "rep"
    r = neurokd("report", runs / "snn", "--teacher", runs / "teacher", "--chip", "loihi", "--chip", "cmos-45nm",
                "--out", out, "--no-progress", "--max-samples", 100)
    assert r.returncode == 0, r.stderr
    assert "loihi" in r.stdout and "fits" in r.stdout
    data = json.loads((out / "report.json").read_text())
    s = data["summary"]
    assert s["T"] == 2 and s["synops_per_sample"] > 0 and s["per"] == "sample"
    assert set(s["energy_uj"]) == {"loihi", "cmos-45nm"} and s["energy_uj"]["loihi"] > 0
    assert s["encoding_layer_included"] == {"loihi": False, "cmos-45nm": True}
    assert s["energy_kinds"]["loihi"] == ["simulated"] and s["fits"] == {"loihi": True}
    assert data["snn"]["samples"] == 100 and data["ann"]["samples"] == 100
    assert s["ann_macs_per_sample"] == data["ann"]["totals"]["dense"] > 0
    assert data["ann"]["accuracy"] is not None and data["snn"]["accuracy"] is not None
    md = (out / "report.md").read_text()
    for text in ("T = 2", "firing rate", "encoding layer", "NOT included", "23.6 pJ (simulated", "Table 2",
                 "Chip mapping", "Firing rate per time step"):
        assert text in md, text
    tex = (out / "report.tex").read_text()
    assert tex.count("\\toprule") == 2 and "\\midrule" in tex and "\\bottomrule" in tex
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_cli_errors(runs, tmp_path, neurokd):
    out = tmp_path / "never"
    one_line_error(neurokd("report", runs / "teacher", "--out", out), "needs an SNN run")
    one_line_error(neurokd("report", runs / "snn", "--chip", "loihi9", "--out", out), "unknown chip 'loihi9'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntitle: X\nsources: {s: {citation: c}}\n"
                   "energy: {synop: {value: 3.5, unit: ns, kind: simulated, source: s, where: T2}}\n")
    one_line_error(neurokd("report", runs / "snn", "--chip", bad, "--out", out), "energy.synop.unit", "bad.yaml")
    one_line_error(neurokd("report", runs / "snn", "--teacher", runs / "snn", "--out", out), "is an SNN")
    one_line_error(neurokd("report", tmp_path / "nothing", "--out", out), "not found")
    assert not out.exists()


def test_markdown_and_latex_from_counts():
    counts = make_counts()
    report = HardwareReport(title="my_net", snn=counts, meta={"dataset": "digits", "split": "test"})
    report.energies = [estimate_energy(counts, resolve_chip(c)[0]) for c in ("loihi", "loihi2", "truenorth")]
    md = to_markdown(report)
    assert "| loihi " in md and "0.02882-0.03172" in md  # (23600 + 5200 + 17) to (23600 + 8100 + 17) pJ, in uJ
    assert "| loihi2 " in md and "n/a" in md
    tex = to_latex(report)
    assert "my\\_net" in tex and "digits test" in tex and "n/a" in tex
