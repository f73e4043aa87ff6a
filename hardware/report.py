"""Paper-ready hardware reports: Markdown, a LaTeX (booktabs) table, JSON and a PNG of per-layer activity.

A :class:`HardwareReport` gathers the counts of the SNN (and of its ANN teacher or twin), the energy estimates
per chip and the chip mappings. Every section says what kind of number it shows: counts are exact, energies are
estimates built from constants whose kind (measured / simulated / estimate) is listed, mappings are resource
checks under stated assumptions. Everything is per sample; T, the firing rates and whether the encoding layer
is included are always stated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurokd.hardware.counting import NEUROBENCH_DEFINITIONS, Counts
from neurokd.hardware.energy import CONVENTION_TEXT, EnergyEstimate, energy_ratio
from neurokd.hardware.mapping import ChipMapping
from neurokd.io import json_text, write_files
from neurokd.plotting import new_figure, png_bytes
from neurokd.tables import markdown_table


@dataclass
class HardwareReport:
    title: str
    snn: Counts
    ann: Counts | None = None
    ann_source: str = ""  # "teacher <path>" or "ANN twin (same architecture): dense MACs only"
    ann_effective: bool = True  # False for a twin: only its dense count is meaningful
    energies: list[EnergyEstimate] = field(default_factory=list)
    ann_energies: list[EnergyEstimate] = field(default_factory=list)
    mappings: list[ChipMapping] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    weight_bits: int = 8

    def ann_energy(self, snn: EnergyEstimate) -> EnergyEstimate | None:
        """The ANN's energy priced by the same chip *and* model variant as ``snn``."""
        return next((e for e in self.ann_energies if e.key == snn.key), None)

    @property
    def convention(self) -> str:
        return self.energies[0].convention if self.energies else "full"

    def summary(self) -> dict[str, Any]:
        """The compact block the demo puts in ``summary.json`` (all per sample). The ANN has two MAC figures:
        dense (every connection: what a CPU/GPU executes, what its energy is priced on) and effective (nonzero
        activation x nonzero weight; None for an ANN twin, which only gives the dense count)."""
        a = self.ann
        return {
            "per": "sample",
            "T": self.snn.T,
            "synops_per_sample": self.snn.synops,
            "snn_effective_macs_per_sample": self.snn.macs,
            "ann_dense_macs_per_sample": a.dense if a is not None else None,
            "ann_effective_macs_per_sample": a.macs if a is not None and self.ann_effective else None,
            "firing_rate": self.snn.firing_rate,
            "energy_convention": self.convention,
            "energy_uj": {e.key: e.total_uj for e in self.energies},
            "energy_kinds": {e.key: e.kinds for e in self.energies},
            "energy_lower_bound": {e.key: bool(e.lower_bound) for e in self.energies if e.total_uj is not None},
            "encoding_layer_included": {e.key: e.encoding_included for e in self.energies},
            "ann_energy_uj": {e.key: e.total_uj for e in self.ann_energies},
            "fits": {m.chip: m.fits for m in self.mappings if m.supported},
            "cores": {m.chip: m.total_cores for m in self.mappings if m.supported},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "what": {
                "counts": "exact, per sample, summed over T time steps (NeuroBench SynapticOperations convention)",
                "energy": "estimate: counts x cited per-operation energies; each term lists its constants' kinds",
                "energy_convention": CONVENTION_TEXT[self.convention],
                "mapping": "resource check under the stated assumptions",
                "neurobench": "snn.neurobench / ann.neurobench: the same counts under NeuroBench 2.3's metric "
                              "names (neurokd.hardware.neurobench runs NeuroBench's own Benchmark on the model)",
                "neurobench_definitions": NEUROBENCH_DEFINITIONS,
            },
            "meta": self.meta,
            "weight_bits": self.weight_bits,
            "summary": self.summary(),
            "snn": self.snn.to_dict(),
            "ann": None if self.ann is None else {**self.ann.to_dict(), "source": self.ann_source,
                                                  "effective_counts_meaningful": self.ann_effective},
            "energy": [e.to_dict() for e in self.energies],
            "ann_energy": [e.to_dict() for e in self.ann_energies],
            "mapping": [m.to_dict() for m in self.mappings],
        }


# ----------------------------------------------------------------------------------------------- formatting

def fmt(v: Any, digits: int = 4) -> str:
    """A number for a table: integers and values >= 1000 with thousands separators, else ``digits``
    significant digits; scientific notation only below 1e-3 or from 1e15."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e15 or abs(v) < 1e-3:
            return f"{v:.{digits - 1}e}"
        if float(v).is_integer() or abs(v) >= 1e3:
            return f"{round(v):,}"
        return f"{v:.{digits}g}"
    return str(v)


def tex_num(v: Any, digits: int = 4) -> str:
    r""":func:`fmt` for LaTeX: ``--`` for a missing value, ``$m\times10^{e}$`` for scientific notation."""
    if v is None:
        return "--"
    text = fmt(v, digits)
    if "e" in text and isinstance(v, float):
        mantissa, exp = text.split("e")
        return f"${mantissa}\\times10^{{{int(exp)}}}$"
    return text


def _energy_cell(e: EnergyEstimate | None, num=fmt, dash: str = "-") -> str:
    if e is None or e.total_uj is None:
        return "n/a"
    cell = num(e.total_uj)
    if e.low_uj is not None and abs(e.low_uj - e.total_uj) > 1e-15:
        cell = f"{num(e.low_uj)}{dash}{cell}"
    return cell


def totals_rows(r: HardwareReport, num=fmt, missing: str = "-") -> list[list[Any]]:
    s, a = r.snn, r.ann
    eff = a is not None and r.ann_effective
    rows = [
        ["effective ACs (SynOps, binary input; NeuroBench Effective_ACs)", num(s.synops), missing, "exact"],
        ["effective MACs (non-binary input; NeuroBench Effective_MACs)", num(s.macs), num(a.macs) if eff else missing,
         "exact"],
        ["dense operations (all connections; NeuroBench Dense)", num(s.dense), num(a.dense) if a else missing,
         "exact"],
        ["neuron updates (neurons x T)", num(s.neuron_updates), missing, "exact"],
        ["membrane updates (changed membranes; NeuroBench MembraneUpdates)", num(s.membrane_updates), missing,
         "exact"],
        ["spikes", num(s.spikes), missing, "exact"],
        ["firing rate (spikes / (neurons x T); NeuroBench ActivationSparsity = 1 - rate)", num(s.firing_rate),
         missing, "exact"],
        ["parameters", num(s.params), num(a.params) if a else missing, "exact"],
        [f"parameter memory at {r.weight_bits} bits (bytes)", num(s.memory_bytes(r.weight_bits)),
         num(a.memory_bytes(r.weight_bits)) if a else missing, "exact"],
    ]
    return rows


def layer_rows(c: Counts) -> list[list[Any]]:
    rows = []
    for lc in c.layers:
        if lc.kind == "synapse":
            rows.append([lc.name, lc.type, lc.op, fmt(lc.acs), fmt(lc.macs), fmt(lc.dense), "-", "-", "-"])
        else:
            rows.append([lc.name, lc.type, "neurons", "-", "-", "-", fmt(lc.neurons), fmt(lc.spikes),
                         fmt(lc.firing_rate)])
    return rows


def energy_rows(r: HardwareReport, num=fmt, dash: str = "-", missing: str = "-", text=str) -> list[list[Any]]:
    """chip, SNN, ANN, ratio, kind, all ops priced, MAC layers priced, source (one row per priced model);
    ``num`` formats numbers, ``text`` the prose cells (e.g. :func:`tex_escape`)."""
    rows = []
    for e in r.energies:
        a = r.ann_energy(e)
        ratio = energy_ratio(a, e) if a else None
        macs = missing if e.encoding_included is None else ("yes" if e.encoding_included else "no")
        rows.append([text(e.chip + (f" ({e.variant})" if e.variant not in (None, "default") else "")),
                     _energy_cell(e, num, dash), _energy_cell(a, num, dash) if a else missing,
                     f"{ratio:,.2f}" if ratio else missing, text(e.kind_label) if e.total_uj is not None else missing,
                     "yes" if e.complete else ("no" if e.total_uj is not None else missing), macs,
                     text("; ".join(e.citations)) if e.citations else missing])
    return rows


ENERGY_HEADERS = ["chip", "SNN uJ/sample", "ANN uJ/sample", "ANN/SNN", "kind", "all ops priced", "MAC layers priced",
                  "source"]


def mac_layer_lines(r: HardwareReport) -> list[str]:
    """One line per MAC layer (non-binary input): why its input is not binary, and on which chips it is priced."""
    roles = r.snn.mac_layer_roles()
    if not roles:
        return []
    priced = [e.key for e in r.energies if e.encoding_included]
    unpriced = [e.key for e in r.energies if e.encoding_included is False]
    where = (f"priced on {', '.join(priced) or 'no chip'}"
             + (f"; NOT priced on {', '.join(unpriced)} (see unpriced)" if unpriced else ""))
    return [f"{name} ({role}): {where}" for name, role in roles.items()]


def to_markdown(r: HardwareReport) -> str:
    s, m = r.snn, r.meta
    out = [f"# Hardware report: {r.title}", ""]
    out += ["**What these numbers are.** Operation counts are *exact* (recorded activity on real inputs, per "
            "sample, summed over the T time steps; NeuroBench's SynapticOperations convention). Energies are "
            "*estimates*: counts x per-operation energies from cited chip profiles, each constant labelled "
            "measured, simulated or estimate. Mappings are resource checks under the assumptions listed.", ""]
    setup = [["model", m.get("model", "-")], ["dataset / split", f"{m.get('dataset', '-')} / {m.get('split', '-')}"],
             ["samples", fmt(s.samples)], ["time steps T", fmt(s.T)],
             ["input", s.input_kind + (f", {s.encoder} encoding" if s.encoder else "")],
             ["SNN accuracy on these samples", fmt(s.accuracy)],
             ["ANN", r.ann_source or "-"],
             ["ANN accuracy on these samples", fmt(r.ann.accuracy) if r.ann is not None and r.ann_effective else "-"],
             ["BatchNorm", m.get("batchnorm", "folded into conv/linear (deployment form)")],
             ["energy convention", f"{r.convention}: {CONVENTION_TEXT[r.convention]}"]]
    out += ["## Setup", "", markdown_table(["", ""], setup), ""]
    out += ["## Totals per sample", "", markdown_table(["quantity", "SNN", "ANN", "kind"], totals_rows(r)), ""]
    mac_lines = mac_layer_lines(r)
    if mac_lines:
        out += ["MAC layers (non-binary input):", ""] + [f"- {line}" for line in mac_lines] + [""]
    out += [f"- {n}" for n in s.notes] + [""]
    out += ["## Per layer (per sample)", "", markdown_table(
        ["layer", "type", "op", "ACs", "MACs", "dense", "neurons", "spikes", "firing rate"], layer_rows(s)), ""]
    neuron_layers = [lc for lc in s.layers if lc.kind == "neuron"]
    if neuron_layers and s.T > 1:
        out += ["### Firing rate per time step", "", markdown_table(
            ["layer", *[f"t={t + 1}" for t in range(s.T)]],
            [[lc.name, *[fmt(v) for v in lc.firing_rate_per_step or [None] * s.T]] for lc in neuron_layers]), ""]
    out += ["## Energy per inference (estimate, per sample)", "", markdown_table(ENERGY_HEADERS, energy_rows(r)), ""]
    out.append("A range a-b prices the terms with a low/high constant (e.g. Loihi neuron updates, inactive vs active). "
               "kind: the kinds of the constants used; a lower bound is labelled as one (the reasons are below).")
    out.append("")
    for e in r.energies:
        out += [f"### {e.title}" + (f" — {e.variant}" if e.variant not in (None, "default") else ""), ""]
        for t in e.terms:
            out.append(f"- {t.count}: {fmt(t.ops)} x {fmt(t.pj_per_op)} pJ = {fmt(t.uj)} uJ"
                       + (f" (low {fmt(t.uj_low)} uJ)" if t.uj_low is not None else ""))
            out += [f"  - {c}" for c in t.constants]
        a = r.ann_energy(e)
        if a is not None:
            for t in a.terms:
                out.append(f"- ANN {t.count}: {fmt(t.ops)} x {fmt(t.pj_per_op)} pJ = {fmt(t.uj)} uJ")
        if e.static_uj is not None:
            out.append(f"- static: {fmt(e.static_uj)} uJ")
        out += [f"- unpriced: {u}" for u in e.unpriced]
        out += [f"- assumption: {x}" for x in e.assumptions]
        out.append("")
    if r.mappings:
        out += ["## Chip mapping", ""]
        for mp in r.mappings:
            out += [f"### {mp.title}", ""]
            if not mp.supported:
                out += [mp.reason, ""]
                continue
            verdict = "fits" if mp.fits else "does not fit"
            cores = (f"Cores: {fmt(mp.total_cores)}; chips needed: {fmt(mp.chips_needed)}; "
                     if mp.total_cores is not None else "")
            out += [f"**{verdict}** — {mp.reason}. {cores}weights at {mp.weight_bits} bits.", ""]
            out.append(markdown_table(
                ["layer", "neurons", "synapses", "block/core", "cores", "max fan-in", "max fan-out",
                 "max syn. bytes/core", "input", "fits"],
                [[lm.name, fmt(lm.neurons), fmt(lm.synapses), "x".join(map(str, lm.block)),
                  fmt(lm.cores) if lm.cores is not None else "none fits", fmt(lm.max_fan_in), fmt(lm.max_fan_out),
                  fmt(lm.max_synapse_bytes_per_core), lm.source, fmt(lm.fits)] for lm in mp.layers]))
            out.append("")
            out += [f"- checked: {c}" for c in mp.checked]
            out += [f"- unchecked: {c}" for c in mp.unchecked]
            out += [f"- note: {n}" for n in mp.notes]
            out += [f"- assumption: {a}" for a in mp.assumptions]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def tex_text(text: str) -> str:
    """Escaped prose with the multiplication sign typeset: ``a x b`` -> ``a $\\times$ b``."""
    return tex_escape(text).replace(" x ", " $\\times$ ")


def to_latex(r: HardwareReport) -> str:
    """Two booktabs tables (needs ``\\usepackage{booktabs}``): counts per sample, energy per chip."""
    s = r.snn
    roles = s.mac_layer_roles()
    enc = "; ".join(f"{name} ({role})" for name, role in roles.items()) or "none"
    data = " ".join(str(r.meta[k]) for k in ("dataset", "split") if r.meta.get(k))
    data = f" of {tex_escape(data)}" if data else ""
    lines = [
        "% generated by `neurokd report`; requires \\usepackage{booktabs}",
        "\\begin{table}[t]", "\\centering",
        f"\\caption{{Operations per sample of {tex_escape(r.title)} ($T = {s.T}$, {tex_num(s.samples)} samples"
        f"{data}, {tex_escape(s.input_kind)} input). Counts are exact; MACs are operations on non-binary input "
        f"(layers: {tex_escape(enc)}).}}",
        "\\label{tab:neurokd-ops}", "\\begin{tabular}{lrr}", "\\toprule", "Quantity & SNN & ANN \\\\", "\\midrule",
    ]
    for q, snn, ann, _kind in totals_rows(r, tex_num, "--"):
        lines.append(f"{tex_text(q)} & {snn} & {ann} \\\\")  # tex_num cells: LaTeX already
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    mac = mac_layer_lines(r)
    lines += [
        "\\begin{table}[t]", "\\centering",
        "\\caption{Estimated energy per inference (one sample), in $\\mu$J: operation counts $\\times$ cited "
        "per-operation energies. " + tex_text(f"Convention ({r.convention}): {CONVENTION_TEXT[r.convention]}.")
        + " Kind: measured (silicon), simulated (pre-silicon) or estimate; a lower bound is labelled as one. "
        "A range low--high prices terms with a low/high constant; n/a: the profile publishes no "
        "per-operation energy."
        + (" MAC layers: " + tex_text("; ".join(mac)) + "." if mac else "") + "}",
        "\\label{tab:neurokd-energy}", "\\begin{tabular}{lrrrllll}", "\\toprule",
        "Chip & SNN & ANN & ANN/SNN & Kind & All ops priced & MACs priced & Source \\\\", "\\midrule",
    ]
    for row in energy_rows(r, tex_num, "--", "--", tex_escape):
        lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    refs = []
    for e in r.energies:
        refs += [ref for ref in e.references if ref not in refs]
    if refs:
        lines += ["\\par\\smallskip\\footnotesize Sources: " + tex_escape("; ".join(refs)) + "."]
    lines += ["\\end{table}", ""]
    return "\n".join(lines)
def report_figure(r: HardwareReport):
    """Figure of per-layer operations (ACs / MACs stacked, dense as a marker; log scale) and per-layer firing
    rates (mean bar, one marker per time step). Legends sit outside the plotting areas, so they never cover a
    bar, and the axis limits leave room around every marker."""
    from matplotlib import colormaps

    syn = [lc for lc in r.snn.layers if lc.kind == "synapse"]
    neu = [lc for lc in r.snn.layers if lc.kind == "neuron"]
    fig = new_figure(figsize=(13, 5.2))
    ax1, ax2 = fig.subplots(1, 2)
    xs = list(range(len(syn)))
    acs, macs, dense = [lc.acs or 0 for lc in syn], [lc.macs or 0 for lc in syn], [lc.dense or 0 for lc in syn]
    ax1.bar(xs, acs, label="effective ACs (SynOps)", color="tab:blue")
    ax1.bar(xs, macs, bottom=acs, label="effective MACs", color="tab:orange")
    ax1.plot(xs, dense, "k_", markersize=14, markeredgewidth=2, label="dense (all connections)")
    ax1.set_yscale("log")
    top = max([1.0, *dense, *(a + m for a, m in zip(acs, macs))])
    ax1.set_ylim(1, top * 3)  # headroom above the tallest marker on the log axis
    ax1.set_xlim(-0.7, len(syn) - 0.3)
    ax1.set_xticks(xs, [lc.name for lc in syn], rotation=45, ha="right", fontsize=8)
    ax1.set_ylabel("operations per sample")
    ax1.set_title(f"Operations per layer (T = {r.snn.T}, exact counts)", pad=34)
    ax1.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=3, frameon=False, borderaxespad=0)
    xn = list(range(len(neu)))
    ax2.bar(xn, [lc.firing_rate or 0 for lc in neu], color="tab:green", alpha=0.6, label="mean over T")
    steps = [lc.firing_rate_per_step or [0.0] * r.snn.T for lc in neu]
    for t in range(r.snn.T):
        ax2.plot(xn, [rates[t] for rates in steps], "o", markersize=3,
                 color=colormaps["viridis"](t / max(r.snn.T - 1, 1)), label=f"t={t + 1}" if r.snn.T <= 8 else None)
    peak = max([lc.firing_rate or 0 for lc in neu] + [v for rates in steps for v in rates] + [1e-3])
    ax2.set_ylim(-0.04 * peak, peak * 1.12)  # a marker at 0 or at the peak stays whole inside the axes
    ax2.set_xlim(-0.7, len(neu) - 0.3)
    ax2.set_xticks(xn, [lc.name for lc in neu], rotation=45, ha="right", fontsize=8)
    ax2.set_ylabel("spikes / (neurons x step)")
    ax2.set_title("Firing rate per spiking layer", pad=34)
    ax2.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=min(r.snn.T + 1, 9), frameon=False,
               borderaxespad=0)
    fig.tight_layout()
    return fig


def write_report(r: HardwareReport, out_dir: str | Path, stem: str = "report") -> dict[str, Path]:
    """Write ``report.md``, ``report.tex``, ``report.json`` and ``report.png`` to ``out_dir``, all or nothing
    (:func:`neurokd.io.write_files`)."""
    out_dir = Path(out_dir)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("md", "tex", "json", "png")}
    write_files({paths["md"]: to_markdown(r), paths["tex"]: to_latex(r), paths["json"]: json_text(r.to_dict()),
                 paths["png"]: png_bytes(report_figure(r), dpi=120)})
    return paths


__all__ = ["HardwareReport", "fmt", "report_figure", "tex_escape", "tex_num", "to_latex", "to_markdown",
           "write_report"]
