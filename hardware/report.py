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

from hardware.counting import Counts
from hardware.energy import EnergyEstimate, energy_ratio
from hardware.mapping import ChipMapping
from neurokd.io import atomic_path, write_json, write_text
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

    def ann_energy(self, chip: str) -> EnergyEstimate | None:
        return next((e for e in self.ann_energies if e.chip == chip), None)

    def summary(self) -> dict[str, Any]:
        """The compact block the demo puts in ``summary.json`` (all per sample)."""
        ann_macs = self.ann.dense if self.ann is not None else None
        return {
            "per": "sample",
            "T": self.snn.T,
            "synops_per_sample": self.snn.synops,
            "snn_macs_per_sample": self.snn.macs,
            "ann_macs_per_sample": ann_macs,
            "firing_rate": self.snn.firing_rate,
            "energy_uj": {e.chip: e.total_uj for e in self.energies},
            "energy_kinds": {e.chip: e.kinds for e in self.energies},
            "encoding_layer_included": {e.chip: e.encoding_included for e in self.energies},
            "ann_energy_uj": {e.chip: e.total_uj for e in self.ann_energies},
            "fits": {m.chip: m.fits for m in self.mappings if m.supported},
            "cores": {m.chip: m.total_cores for m in self.mappings if m.supported},
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "what": {
                "counts": "exact, per sample, summed over T time steps (NeuroBench SynapticOperations convention)",
                "energy": "estimate: counts x cited per-operation energies; each term lists its constants' kinds",
                "mapping": "resource check under the stated assumptions",
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
        if float(v).is_integer() or abs(v) >= 1e4:
            return f"{round(v):,}"
        return f"{v:.{digits}g}"
    return str(v)


def _energy_cell(e: EnergyEstimate | None) -> str:
    if e is None or e.total_uj is None:
        return "n/a"
    cell = fmt(e.total_uj)
    if e.low_uj is not None and abs(e.low_uj - e.total_uj) > 1e-15:
        cell = f"{fmt(e.low_uj)}-{cell}"
    return cell


def totals_rows(r: HardwareReport) -> list[list[Any]]:
    s, a = r.snn, r.ann
    eff = a is not None and r.ann_effective
    rows = [
        ["effective ACs (SynOps, binary input)", fmt(s.synops), "-", "exact"],
        ["effective MACs (non-binary input)", fmt(s.macs), fmt(a.macs) if eff else "-", "exact"],
        ["dense operations (all connections)", fmt(s.dense), fmt(a.dense) if a else "-", "exact"],
        ["neuron updates (neurons x T)", fmt(s.neuron_updates), "-", "exact"],
        ["spikes", fmt(s.spikes), "-", "exact"],
        ["firing rate (spikes / (neurons x T))", fmt(s.firing_rate), "-", "exact"],
        ["parameters", fmt(s.params), fmt(a.params) if a else "-", "exact"],
        [f"parameter memory at {r.weight_bits} bits (bytes)", fmt(s.memory_bytes(r.weight_bits)),
         fmt(a.memory_bytes(r.weight_bits)) if a else "-", "exact"],
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


def energy_rows(r: HardwareReport) -> list[list[Any]]:
    rows = []
    for e in r.energies:
        a = r.ann_energy(e.chip)
        ratio = energy_ratio(a, e) if a else None
        rows.append([e.chip + (f" ({e.variant})" if e.variant not in (None, "default") else ""), _energy_cell(e),
                     _energy_cell(a) if a else "-", fmt(ratio, 3) if ratio else "-",
                     ", ".join(e.kinds) or "-", fmt(e.encoding_included),
                     "yes" if e.complete else ("no" if e.total_uj is not None else "-")])
    return rows


ENERGY_HEADERS = ["chip", "SNN uJ/sample", "ANN uJ/sample", "ANN/SNN", "constants' kind", "encoding layer incl.",
                  "all ops priced"]


def to_markdown(r: HardwareReport) -> str:
    s, m = r.snn, r.meta
    out = [f"# Hardware report: {r.title}", ""]
    out += ["**What these numbers are.** Operation counts are *exact* (recorded activity on real inputs, per "
            "sample, summed over the T time steps; NeuroBench's SynapticOperations convention). Energies are "
            "*estimates*: counts x per-operation energies from cited chip profiles, each constant labelled "
            "measured, simulated or estimate. Mappings are resource checks under the assumptions listed.", ""]
    setup = [["model", m.get("model", "-")], ["dataset / split", f"{m.get('dataset', '-')} / {m.get('split', '-')}"],
             ["samples", fmt(s.samples)], ["time steps T", fmt(s.T)], ["input encoding", s.encoder or "-"],
             ["SNN accuracy on these samples", fmt(s.accuracy)],
             ["ANN", r.ann_source or "-"],
             ["ANN accuracy on these samples", fmt(r.ann.accuracy) if r.ann is not None and r.ann_effective else "-"],
             ["BatchNorm", m.get("batchnorm", "folded into conv/linear (deployment form)")]]
    out += ["## Setup", "", markdown_table(["", ""], setup), ""]
    out += ["## Totals per sample", "", markdown_table(["quantity", "SNN", "ANN", "kind"], totals_rows(r)), ""]
    if s.mac_layers:
        out.append(f"MAC layers (non-binary input): {', '.join(s.mac_layers)}.")
    out += [f"- {n}" for n in s.notes] + [""]
    out += ["## Per layer (per sample)", "", markdown_table(
        ["layer", "type", "op", "ACs", "MACs", "dense", "neurons", "spikes", "firing rate"], layer_rows(s)), ""]
    neuron_layers = [lc for lc in s.layers if lc.kind == "neuron"]
    if neuron_layers and s.T > 1:
        out += ["### Firing rate per time step", "", markdown_table(
            ["layer", *[f"t={t + 1}" for t in range(s.T)]],
            [[lc.name, *[fmt(v) for v in lc.firing_rate_per_step or [None] * s.T]] for lc in neuron_layers]), ""]
    out += ["## Energy per inference (estimate, per sample)", "", markdown_table(ENERGY_HEADERS, energy_rows(r)), ""]
    out.append("A range a-b prices the terms with a low/high constant (e.g. Loihi neuron updates, inactive vs active).")
    out.append("")
    for e in r.energies:
        out += [f"### {e.title}" + (f" — {e.variant}" if e.variant not in (None, "default") else ""), ""]
        for t in e.terms:
            out.append(f"- {t.count}: {fmt(t.ops)} x {fmt(t.pj_per_op)} pJ = {fmt(t.uj)} uJ"
                       + (f" (low {fmt(t.uj_low)} uJ)" if t.uj_low is not None else ""))
            out += [f"  - {c}" for c in t.constants]
        a = r.ann_energy(e.chip)
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
            out += [f"**{verdict}** — {mp.reason}. Cores: {mp.total_cores}; chips needed: {fmt(mp.chips_needed)}; "
                    f"weights at {mp.weight_bits} bits.", ""]
            out.append(markdown_table(
                ["layer", "neurons", "synapses", "block/core", "cores", "max fan-in", "max fan-out",
                 "max syn. bytes/core", "input", "fits"],
                [[lm.name, fmt(lm.neurons), fmt(lm.synapses), "x".join(map(str, lm.block)), fmt(lm.cores),
                  fmt(lm.max_fan_in), fmt(lm.max_fan_out), fmt(lm.max_synapse_bytes_per_core), lm.source,
                  fmt(lm.fits)] for lm in mp.layers]))
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


def to_latex(r: HardwareReport) -> str:
    """Two booktabs tables (needs ``\\usepackage{booktabs}``): counts per sample, energy per chip."""
    s = r.snn
    enc = ", ".join(s.mac_layers) or "none"
    data = " ".join(str(r.meta[k]) for k in ("dataset", "split") if r.meta.get(k))
    data = f" of {tex_escape(data)}" if data else ""
    lines = [
        "% generated by `neurokd report`; requires \\usepackage{booktabs}",
        "\\begin{table}[t]", "\\centering",
        f"\\caption{{Operations per sample of {tex_escape(r.title)} (T = {s.T}, {s.samples} samples{data}). "
        "Counts are exact; "
        f"MACs are operations on non-binary input (layers: {tex_escape(enc)}).}}",
        "\\label{tab:neurokd-ops}", "\\begin{tabular}{lrr}", "\\toprule", "Quantity & SNN & ANN \\\\", "\\midrule",
    ]
    for q, snn, ann, _kind in totals_rows(r):
        lines.append(f"{tex_escape(q)} & {tex_escape(snn)} & {tex_escape(ann)} \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    lines += [
        "\\begin{table}[t]", "\\centering",
        "\\caption{Estimated energy per inference (one sample), in $\\mu$J: operation counts times cited "
        "per-operation energies. The kind column says whether the constants are measured, simulated "
        "(pre-silicon) or estimates; n/a: the chip profile publishes no per-operation energy.}",
        "\\label{tab:neurokd-energy}", "\\begin{tabular}{lrrrll}", "\\toprule",
        "Chip & SNN & ANN & ANN/SNN & Kind & Encoding layer \\\\", "\\midrule",
    ]
    for chip, snn, ann, ratio, kinds, enc_incl, _complete in energy_rows(r):
        lines.append(" & ".join(tex_escape(x) for x in (chip, snn, ann, ratio, kinds, enc_incl)) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def plot(r: HardwareReport, path: Path) -> None:
    """PNG: per-layer operations (ACs / MACs, log scale) and per-layer firing rates (with per-step rates)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    syn = [lc for lc in r.snn.layers if lc.kind == "synapse"]
    neu = [lc for lc in r.snn.layers if lc.kind == "neuron"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))
    xs = range(len(syn))
    ax1.bar(xs, [lc.acs or 0 for lc in syn], label="effective ACs (SynOps)", color="tab:blue")
    ax1.bar(xs, [lc.macs or 0 for lc in syn], bottom=[lc.acs or 0 for lc in syn], label="effective MACs",
            color="tab:orange")
    ax1.plot(list(xs), [lc.dense or 0 for lc in syn], "k_", markersize=18, label="dense (all connections)")
    ax1.set_yscale("log")
    ax1.set_ylim(bottom=1)
    ax1.set_xticks(list(xs), [lc.name for lc in syn], rotation=45, ha="right", fontsize=8)
    ax1.set_ylabel("operations per sample")
    ax1.set_title(f"Operations per layer (T = {r.snn.T}, exact counts)")
    ax1.legend(fontsize=8)
    xn = range(len(neu))
    ax2.bar(xn, [lc.firing_rate or 0 for lc in neu], color="tab:green", alpha=0.6, label="mean over T")
    for t in range(r.snn.T):
        ax2.plot(list(xn), [(lc.firing_rate_per_step or [0] * r.snn.T)[t] for lc in neu], "o", markersize=3,
                 color=plt.cm.viridis(t / max(r.snn.T - 1, 1)), label=f"t={t + 1}" if r.snn.T <= 8 else None)
    ax2.set_xticks(list(xn), [lc.name for lc in neu], rotation=45, ha="right", fontsize=8)
    ax2.set_ylabel("spikes / (neurons x step)")
    ax2.set_title("Firing rate per spiking layer")
    ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def write_report(r: HardwareReport, out_dir: str | Path, stem: str = "report") -> dict[str, Path]:
    """Write ``report.md``, ``report.tex``, ``report.json`` and ``report.png`` to ``out_dir``."""
    out_dir = Path(out_dir)
    paths = {ext: out_dir / f"{stem}.{ext}" for ext in ("md", "tex", "json", "png")}
    write_text(paths["md"], to_markdown(r))
    write_text(paths["tex"], to_latex(r))
    write_json(paths["json"], r.to_dict())
    plot(r, paths["png"])
    return paths


__all__ = ["HardwareReport", "fmt", "tex_escape", "to_latex", "to_markdown", "write_report"]
