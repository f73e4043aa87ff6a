"""Energy per inference on a chip: counted operations x the chip profile's per-operation energies.

``estimate_energy(counts, profile)`` prices the counts of one network (SNN or ANN, per sample) with one model
variant of a profile: every term is ``ops per sample x (sum of cited energies)``; a static power is added as
``power x latency`` only when the profile has one and a latency is given. Counts with work but no price are
listed as *unpriced* with the profile's reason (for example the encoding layer's MACs on a chip that only
accumulates spikes), never silently dropped. Every figure says which kinds of constants it rests on, and whether
it is a lower bound (the profile says so, or some work is left unpriced).

Two conventions for the SNN (``convention``):

- ``full`` (default): every count the profile prices, neuron updates and spikes included where the chip model
  has a term for them;
- ``plain``: the convention of most SNN papers, ``E_SNN = ACs x E_AC + MACs x E_MAC`` (synaptic operations and
  the MACs of layers with non-binary input, e.g. the encoding layer); neuron updates and spikes are not priced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from neurokd.hardware.chips import ChipProfile
from neurokd.hardware.counting import Counts

# counts that cost energy when executed (``dense`` is a reference count for the SNN)
CHARGEABLE = {"snn": ("synops", "macs", "neuron_updates", "spikes"), "ann": ("dense",)}
# where a profile's ``absent`` section explains why a count has no price
ABSENT_KEY = {"synops": "synop", "macs": "mac", "neuron_updates": "neuron_update", "spikes": "spike",
              "dense": "mac"}
PJ_PER_UJ = 1e6
Convention = Literal["full", "plain"]
CONVENTIONS: tuple[str, ...] = get_args(Convention)
PLAIN_COUNTS = ("synops", "macs")  # what the plain convention prices (and the ANN's dense MACs)
CONVENTION_TEXT = {
    "full": "E_SNN = every operation the chip profile prices (synaptic ops, MACs on non-binary input, and neuron "
            "updates / spikes where the profile has a term for them)",
    "plain": "E_SNN = ACs x E_AC + MACs x E_MAC (the plain convention of most SNN papers: synaptic ops and the MACs "
             "of layers with non-binary input; neuron updates and spikes not priced)",
}


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
    key: str  # "chip", or "chip:variant" for a non-default variant: unique per priced model
    network: str
    T: int
    total_uj: float | None
    low_uj: float | None
    static_uj: float | None
    terms: list[TermEnergy] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    encoding_included: bool | None = None  # the MACs of layers with non-binary input are priced
    convention: str = "full"
    lower_bound: list[str] = field(default_factory=list)  # why the figure is a lower bound (empty: it is not)
    citations: list[str] = field(default_factory=list)  # short citations of the priced constants' sources
    references: list[str] = field(default_factory=list)  # "short: full citation" for each of them

    @property
    def complete(self) -> bool:
        return self.total_uj is not None and not self.unpriced

    @property
    def kind_label(self) -> str:
        """``simulated``, ``estimate``, ... or ``lower bound (measured constants)``: a bound is never labelled
        with its constants' kind alone."""
        base = ", ".join(self.kinds) or "-"
        return f"lower bound ({base} constants)" if self.lower_bound and self.kinds else base

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["complete"] = self.complete
        return d


def energy_key(profile: ChipProfile, variant: str | None) -> str:
    """``"cmos-45nm"`` for the default variant, ``"cmos-45nm:int8"`` for another one."""
    return profile.name if variant is None or variant == profile.default_model else f"{profile.name}:{variant}"


def estimate_energy(counts: Counts, profile: ChipProfile, variant: str | None = None,
                    latency_s: float | None = None, convention: Convention = "full") -> EnergyEstimate:
    """Price ``counts`` (one network, per sample) with ``profile``'s model ``variant`` (its default if None),
    under ``convention`` (``full`` or ``plain``, see the module docstring; the ANN is priced the same by both)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown energy convention {convention!r}; choose one of {CONVENTIONS}")
    net = counts.network
    model = profile.model(variant)
    est = EnergyEstimate(chip=profile.name, title=profile.title, variant=model.name if model else None,
                         key=energy_key(profile, variant), network=net, T=counts.T, total_uj=None, low_uj=None,
                         static_uj=None, convention=convention)
    kinds: set[str] = set()
    sources: set[str] = set()
    terms = (model.snn if net == "snn" else model.ann) if model else ()
    plain = net == "snn" and convention == "plain"
    excluded = []
    priced = set()
    for term in terms:
        if plain and term.count not in PLAIN_COUNTS:
            excluded.append(term.count)
            continue
        consts = [profile.constants[n] for n in term.energy]
        pj = sum(c.value for c in consts)
        low_c = profile.constants[term.low] if term.low else None
        ops = counts.total(term.count)
        kinds.update(c.kind for c in consts)
        sources.update(c.source for c in consts)
        if low_c:
            kinds.add(low_c.kind)
            sources.add(low_c.source)
        est.terms.append(TermEnergy(
            count=term.count, ops=ops, pj_per_op=pj, pj_per_op_low=low_c.value if low_c else None,
            uj=ops * pj / PJ_PER_UJ, uj_low=ops * low_c.value / PJ_PER_UJ if low_c else None,
            constants=[f"{c.name} = {profile.cite(c)}" for c in consts]
            + ([f"low end: {low_c.name} = {profile.cite(low_c)}"] if low_c else []),
            kinds=sorted({c.kind for c in consts} | ({low_c.kind} if low_c else set())), note=term.note,
        ))
        priced.add(term.count)
    covered = set(model.covers) if model else set()
    left_out: list[str] = []  # counts with work that the plain convention does not price
    unpriced: list[str] = []  # counts with work that no term of the profile prices
    for name in CHARGEABLE[net]:
        ops = counts.total(name)
        if plain and name not in PLAIN_COUNTS:
            if ops > 0 and name not in covered:
                left_out.append(name)
            continue
        if ops > 0 and name not in priced and name not in covered:
            reason = profile.absent.get(ABSENT_KEY[name], "no term of this profile prices it")
            est.unpriced.append(f"{name}: {ops:.6g} per sample not priced ({reason})")
            unpriced.append(name)
    if model and model.static:
        power = profile.constants[model.static]
        if latency_s is not None:
            est.static_uj = power.value * 1e-3 * latency_s * 1e6  # mW -> W, x s -> J -> uJ
            kinds.add(power.kind)
            sources.add(power.source)
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
    est.citations = [profile.short_citation(k) for k in sorted(sources)]
    est.references = [f"{profile.short_citation(k)}: {profile.citation(k)}" for k in sorted(sources)]
    if net == "snn" and counts.macs > 0 and est.total_uj is not None:
        est.encoding_included = "macs" in priced
    if est.total_uj is not None:
        est.lower_bound = ([model.lower_bound] if model is not None and model.lower_bound else []) \
            + [f"{n} not priced (plain convention)" for n in left_out] + [f"{n} not priced" for n in unpriced]
    est.assumptions[:0] = _assumptions(counts, profile, est, model is None)
    return est


def _assumptions(counts: Counts, profile: ChipProfile, est: EnergyEstimate, no_model: bool) -> list[str]:
    out = [f"energy per inference of one sample ({counts.samples} samples averaged); "
           + (f"T = {counts.T} time steps" if counts.network == "snn" else "one forward pass")]
    if no_model:
        out.append(f"{profile.title}: no per-operation energies are published (see unpriced)")
    elif not est.terms and est.static_uj is None:
        out.append(f"{profile.title}: no {counts.network.upper()} operation is priced (see unpriced)")
    if counts.network == "snn":
        out.append(f"convention ({est.convention}): {CONVENTION_TEXT[est.convention]}")
    if est.kinds:
        out.append("constants used are of kind: " + ", ".join(est.kinds))
    if est.lower_bound:
        out.append("a lower bound: " + "; ".join(est.lower_bound))
    if counts.network == "snn" and est.encoding_included is not None:
        roles = counts.mac_layer_roles()
        out.append("the MAC layers (non-binary input: " + ", ".join(f"{n}, {r}" for n, r in roles.items())
                   + ") are " + ("priced" if est.encoding_included else "NOT priced"))
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


__all__ = ["CONVENTIONS", "CONVENTION_TEXT", "EnergyEstimate", "TermEnergy", "energy_key", "energy_ratio",
           "estimate_energy"]
