"""``neurokd report``: Markdown, LaTeX (booktabs), JSON and PNG; bad input -> one line, exit code 2."""

import json

import pytest

from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.hardware.chips import resolve_chip
from neurokd.hardware.energy import estimate_energy
from neurokd.hardware.report import HardwareReport, energy_rows, report_figure, to_latex, to_markdown
from neurokd.train import run_training
from tests.cli.test_cli import _one_line_error as one_line_error
from tests.hardware.test_energy import make_counts


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
    # one meaning per key: the ANN's dense MACs (what its energy is priced on) and its effective MACs, each the
    # figure the report's table shows in the same row
    ann = data["ann"]["totals"]
    assert s["ann_dense_macs_per_sample"] == ann["dense"] > s["ann_effective_macs_per_sample"] == ann["macs"] > 0
    assert s["snn_effective_macs_per_sample"] == data["snn"]["totals"]["macs"] > 0
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in (out / "report.md").read_text()
             .splitlines() if line.startswith("| ")]
    rows = {row[0]: row for row in cells}
    assert rows["dense operations (all connections; NeuroBench Dense)"][2] == f"{round(ann['dense']):,}"
    assert rows["effective MACs (non-binary input; NeuroBench Effective_MACs)"][2] == f"{round(ann['macs']):,}"
    # NeuroBench's names beside ours, with the definitions and where they differ
    snn = data["snn"]
    assert snn["neurobench"] == {
        "Effective_ACs": snn["totals"]["synops"], "Effective_MACs": snn["totals"]["macs"],
        "Dense": snn["totals"]["dense"], "ActivationSparsity": pytest.approx(1 - snn["totals"]["firing_rate"]),
        "MembraneUpdates": snn["totals"]["membrane_updates"]}
    assert 0 < snn["totals"]["membrane_updates"] <= snn["totals"]["neuron_updates"]
    assert data["ann"]["neurobench"]["MembraneUpdates"] is None
    assert "neurons x T" in data["what"]["neurobench_definitions"]["MembraneUpdates"]
    assert data["ann"]["accuracy"] is not None and data["snn"]["accuracy"] is not None
    md = (out / "report.md").read_text()
    for text in ("T = 2", "firing rate", "encoding layer", "NOT priced", "23.6 pJ (simulated", "Table 2",
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


def _report_with_variants(convention="full"):
    counts, ann = make_counts(), make_counts(network="ann")
    report = HardwareReport(title="net", snn=counts, ann=ann, meta={"dataset": "digits", "split": "test"})
    for spec in ("cmos-45nm", "cmos-45nm:int8", "loihi"):
        profile, variant = resolve_chip(spec)
        report.energies.append(estimate_energy(counts, profile, variant, convention=convention))
        if profile.model(variant).ann:
            report.ann_energies.append(estimate_energy(ann, profile, variant))
    return report


def test_precision_variant_rows_use_their_own_ann_energy():
    report = _report_with_variants()
    rows = {row[0]: row for row in energy_rows(report)}
    # SNN fp32: 1000 x 0.9 + 200 x 4.6 + 100 x 4.6 = 2280 pJ; int8: 1000 x 0.03 + 300 x 0.23 = 99 pJ
    # ANN: 5000 dense MACs x 4.6 (fp32) = 23000 pJ, x 0.23 (int8) = 1150 pJ
    assert rows["cmos-45nm (fp32)"][3] == "10.09"  # 23000 / 2280
    assert rows["cmos-45nm (int8)"][2] == "0.00115" and rows["cmos-45nm (int8)"][3] == "11.62"  # 1150 / 99
    s = report.summary()
    assert s["energy_uj"]["cmos-45nm"] == pytest.approx(2280e-6) and s["energy_uj"]["cmos-45nm:int8"] == \
        pytest.approx(99e-6)
    assert s["ann_energy_uj"] == {"cmos-45nm": pytest.approx(23000e-6), "cmos-45nm:int8": pytest.approx(1150e-6)}
    assert set(s["energy_kinds"]) == {"cmos-45nm", "cmos-45nm:int8", "loihi"}
    assert s["energy_lower_bound"] == {"cmos-45nm": True, "cmos-45nm:int8": True, "loihi": True}
    assert s["energy_convention"] == "full"


def test_latex_energy_table_is_typeset_for_a_paper():
    tex = to_latex(_report_with_variants())
    energy = tex[tex.index("tab:neurokd-energy"):]
    header = next(line for line in energy.splitlines() if line.startswith("Chip &"))
    assert header == "Chip & SNN & ANN & ANN/SNN & Kind & All ops priced & MACs priced & Source \\\\"
    loihi = next(line for line in energy.splitlines() if line.startswith("loihi &"))
    # 28.8-31.7 nJ as a range with an en dash; no ANN term on Loihi; a minimum synop energy is a lower bound
    assert loihi.startswith("loihi & 0.02882--0.03172 & -- & -- & lower bound (simulated constants) & no & no & "
                            "Davies et al. 2018")
    assert "Sources: Horowitz 2014: M. Horowitz" in energy and "; Davies et al. 2018: M. Davies et al., Loihi" in energy
    assert "$\\times$" in tex and " x " not in tex.replace("\\times", "")
    assert "neurons $\\times$ T" in tex and "5,000" in tex  # dense ops with a thousands separator
    assert "enc (encoding layer: analog input): priced on cmos-45nm, cmos-45nm:int8; NOT priced on loihi" in \
        tex.replace("\\_", "_")
    assert "measured" not in loihi and "Convention (full)" in tex


def test_plain_convention_is_stated_in_every_format():
    report = _report_with_variants("plain")
    assert report.summary()["energy_convention"] == "plain"
    row = next(line for line in to_markdown(report).splitlines() if line.startswith("| energy convention"))
    assert "| plain: E_SNN = ACs x E_AC + MACs x E_MAC" in row
    assert "Convention (plain): E\\_SNN = ACs $\\times$ E\\_AC + MACs $\\times$ E\\_MAC" in to_latex(report)


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_png_legends_cover_no_bar_and_every_marker_is_inside_its_axes():
    from matplotlib.lines import Line2D

    counts = make_counts()
    counts.layers[1].firing_rate_per_step = [0.0, 0.1, 0.2, 0.1]  # a marker at 0 and one at the peak
    fig = report_figure(HardwareReport(title="net", snn=counts))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend().get_window_extent(renderer)
        for bar in ax.patches:
            assert not _overlap(legend, bar.get_window_extent(renderer)), ax.get_title()
        box = ax.get_window_extent(renderer)
        for line in ax.get_lines():
            if not isinstance(line, Line2D) or line.get_marker() in ("None", None):
                continue
            pts = ax.transData.transform(line.get_xydata())
            r = line.get_markersize() / 2 * fig.dpi / 72  # marker half-size in pixels
            assert (pts[:, 0] - r >= box.x0).all() and (pts[:, 0] + r <= box.x1).all(), ax.get_title()
            assert (pts[:, 1] - r >= box.y0).all() and (pts[:, 1] + r <= box.y1).all(), ax.get_title()


def test_report_uses_the_runs_T_on_event_data(tmp_path, neurokd):
    """An SNN trained on event frames with the default data.time_bins (= its T): the report bins the test
    recordings into the run's T frames, says 'event frames', and a mismatching --T is one line."""
    run = run_training(build_config(RunConfig, overrides={
        "name": "ev", "out_dir": str(tmp_path), "data.name": "saccade-digits", "model.kind": "snn", "model.T": 3,
        "model.width": 4, "optim.epochs": 1, "train.progress": False, "train.threads": 1})).run_dir
    out = tmp_path / "rep"
    r = neurokd("report", run, "--chip", "cmos-45nm", "--chip", "loihi", "--out", out, "--no-progress",
                "--max-samples", 20)
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "report.json").read_text())
    assert data["snn"]["T"] == 3 and data["snn"]["input_kind"] == "event frames"
    md = (out / "report.md").read_text()
    assert "event frames (binned event counts)" in md and "analog input" not in md
    r = neurokd("report", run, "--T", "5", "--data.time_bins", "3", "--out", tmp_path / "never")
    one_line_error(r, "3 event frames per sample", "--T 3")


def test_report_cli_keys_energies_by_chip_and_variant(runs, tmp_path, neurokd):
    out = tmp_path / "rep"
    r = neurokd("report", runs / "snn", "--teacher", runs / "teacher", "--chip", "cmos-45nm", "--chip",
                "cmos-45nm:int8", "--chip", "cmos-45nm:fp32", "--out", out, "--no-progress", "--max-samples", 50,
                "--energy-convention", "plain")
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "report.json").read_text())
    s = data["summary"]
    assert set(s["energy_uj"]) == set(s["ann_energy_uj"]) == {"cmos-45nm", "cmos-45nm:int8"}  # fp32 once
    assert s["energy_convention"] == "plain" and "energy convention: plain" in r.stdout
    snn, ann = data["snn"]["totals"], data["ann"]["totals"]
    # plain convention: ACs x add + MACs x (mult + add); the teacher: every dense MAC
    assert s["energy_uj"]["cmos-45nm:int8"] == pytest.approx((snn["synops"] * 0.03 + snn["macs"] * 0.23) / 1e6)
    assert s["ann_energy_uj"]["cmos-45nm:int8"] == pytest.approx(ann["dense"] * 0.23 / 1e6)
    assert s["ann_energy_uj"]["cmos-45nm"] == pytest.approx(ann["dense"] * 4.6 / 1e6)
