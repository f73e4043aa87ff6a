"""Energy per inference on a chip: counted operations x the chip profile's per-operation energies.

``estimate_energy(counts, profile)`` prices the counts of one network (SNN or ANN, per sample) with one model
variant of a profile: every term is ``ops per sample x (sum of cited energies)``; a static power is added as
``power x latency`` only when the profile has one and a latency is given. Counts with work but no price are
listed as *unpriced* with the profile's reason (for example the encoding layer's MACs on a chip that only
accumulates spikes), never silently dropped. Every figure says which kinds of constants it rests on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hardware.chips import ChipProfile
from hardware.counting import Counts

# counts that cost energy when executed (``dense`` is a reference count for the SNN)
CHARGEABLE = {"snn": ("synops", "macs", "neuron_updates", "spikes"), "ann": ("dense",)}
# where a profile's ``absent`` section explains why a count has no price
ABSENT_KEY = {"synops": "synop", "macs": "mac", "neuron_updates": "neuron_update", "spikes": "spike",
              "dense": "mac"}
PJ_PER_UJ = 1e6


@dataclass
class TermEnergy:
    count: str
    ops: float  # per sample
    pj_per_op: float
    pj_per_op_low: float | None
    uj: float
    uj_low: float | None
    constants: list[str]
    kinds: list[str]
    note: str = ""


@dataclass
class EnergyEstimate:
    """Energy per inference (per sample) of one network on one chip profile. ``total_uj`` is None when the
    profile prices nothing this network does."""

    chip: str
    title: str
    variant: str | None
    network: str
    T: int
    total_uj: float | None
    low_uj: float | None
    static_uj: float | None
    terms: list[TermEnergy] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    encoding_included: bool | None = None

    @property
    def complete(self) -> bool:
        return self.total_uj is not None and not self.unpriced

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["complete"] = self.complete
        return d


def estimate_energy(counts: Counts, profile: ChipProfile, variant: str | None = None,
                    latency_s: float | None = None) -> EnergyEstimate:
    """Price ``counts`` (one network, per sample) with ``profile``'s model ``variant`` (its default if None)."""
    net = counts.network
    model = profile.model(variant)
    est = EnergyEstimate(chip=profile.name, title=profile.title, variant=model.name if model else None,
                         network=net, T=counts.T, total_uj=None, low_uj=None, static_uj=None)
    kinds: set[str] = set()
    terms = (model.snn if net == "snn" else model.ann) if model else ()
    priced = set()
    for term in terms:
        consts = [profile.constants[n] for n in term.energy]
        pj = sum(c.value for c in consts)
        low_c = profile.constants[term.low] if term.low else None
        ops = counts.total(term.count)
        kinds.update(c.kind for c in consts)
        if low_c:
            kinds.add(low_c.kind)
        est.terms.append(TermEnergy(
            count=term.count, ops=ops, pj_per_op=pj, pj_per_op_low=low_c.value if low_c else None,
            uj=ops * pj / PJ_PER_UJ, uj_low=ops * low_c.value / PJ_PER_UJ if low_c else None,
            constants=[f"{c.name} = {profile.cite(c)}" for c in consts]
            + ([f"low end: {low_c.name} = {profile.cite(low_c)}"] if low_c else []),
            kinds=sorted({c.kind for c in consts} | ({low_c.kind} if low_c else set())), note=term.note,
        ))
        priced.add(term.count)
    covered = set(model.covers) if model else set()
    for name in CHARGEABLE[net]:
        ops = counts.total(name)
        if ops > 0 and name not in priced and name not in covered:
            reason = profile.absent.get(ABSENT_KEY[name], "no term of this profile prices it")
            est.unpriced.append(f"{name}: {ops:.6g} per sample not priced ({reason})")
    if model and model.static:
        power = profile.constants[model.static]
        if latency_s is not None:
            est.static_uj = power.value * 1e-3 * latency_s * 1e6  # mW -> W, x s -> J -> uJ
            kinds.add(power.kind)
            est.assumptions.append(f"static term: {power.name} {profile.cite(power)} x latency {latency_s * 1e3:g} ms")
        else:
            est.assumptions.append(f"static power {power.given} is known but no latency was given "
                                   "(--latency-ms): static term omitted")
    if est.terms or est.static_uj is not None:
        dynamic = sum(t.uj for t in est.terms)
        dynamic_low = sum(t.uj_low if t.uj_low is not None else t.uj for t in est.terms)
        static = est.static_uj or 0.0
        est.total_uj = dynamic + static
        est.low_uj = dynamic_low + static
    est.kinds = sorted(kinds)
    if net == "snn" and counts.macs > 0 and est.total_uj is not None:
        est.encoding_included = "macs" in priced
    est.assumptions[:0] = _assumptions(counts, profile, est, model is None)
    return est


def _assumptions(counts: Counts, profile: ChipProfile, est: EnergyEstimate, no_model: bool) -> list[str]:
    out = [f"energy per inference of one sample ({counts.samples} samples averaged); "
           + (f"T = {counts.T} time steps" if counts.network == "snn" else "one forward pass")]
    if no_model:
        out.append(f"{profile.title}: no per-operation energies are published (see unpriced)")
    elif not est.terms and est.static_uj is None:
        out.append(f"{profile.title}: no {counts.network.upper()} operation is priced (see unpriced)")
    if est.kinds:
        out.append("constants used are of kind: " + ", ".join(est.kinds))
    if counts.network == "snn" and est.encoding_included is not None:
        out.append("the encoding layer (MACs on non-binary input: " + ", ".join(counts.mac_layers) + ") is "
                   + ("included" if est.encoding_included else "NOT included"))
    for t in est.terms:
        if t.note:
            out.append(f"{t.count}: {t.note}")
    out.extend(profile.notes)
    return out


def energy_ratio(ann: EnergyEstimate, snn: EnergyEstimate) -> float | None:
    """ANN energy / SNN energy on the same profile (> 1: the SNN uses less); None if either is unpriced."""
    if ann.total_uj is None or snn.total_uj is None or snn.total_uj == 0:
        return None
    return ann.total_uj / snn.total_uj


__all__ = ["EnergyEstimate", "TermEnergy", "energy_ratio", "estimate_energy"]
