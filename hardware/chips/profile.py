"""Chip profiles: one YAML data file per target, every constant cited and labelled with the kind of number it is.

A profile (see the files next to this module; a user can write their own and pass its path) holds:

``name``, ``title``, ``description``
``sources``       ``key: {citation, short, doi | url}`` — every constant names one; ``short`` (e.g. "Davies et
                  al. 2018") is how a report table cites it (default: the citation)
``energy``        per-operation energies (fJ/pJ/nJ/uJ), e.g. ``synop: {value: 23.6, unit: pJ, kind: simulated,
                  source: davies2018, where: "Table 2, ..."}``
``power``         powers (uW/mW/W), e.g. a resting power
``timing``        times (ps/ns/us/ms/s), kept so that a time is never mistaken for an energy
``architecture``  core resources for mapping (count/bit/byte/KiB/MiB)
``absent``        ``name: reason`` for every constant that is unknown: said so, never invented
``models``        ``variant: {snn: [terms], ann: [terms], covers: [counts], static: <power constant>,
                  lower_bound: <why this model's totals are a lower bound>}``; a term
                  ``{count: synops|macs|dense|neuron_updates|spikes, energy: <constant> | [<constants summed>],
                  low: <constant for the low end>, note: ...}``; ``covers`` lists counts already inside another
                  term's figure (an all-in energy), so they are not reported as unpriced
``default_model``, ``notes``

Each constant has ``kind``: ``measured`` (silicon on a meter), ``simulated`` (pre-silicon circuit simulation),
``estimate`` (derived or approximate) — and ``specification`` for architecture facts; ``provenance``:
``primary`` (read in the cited source) or ``secondary`` (through ``via``). Profiles are validated when loaded;
a problem is one line naming the file and the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurokd.errors import UserError
from neurokd.io import read_text
from neurokd.parsing import load_yaml_text

CHIP_DIR = Path(__file__).parent
KINDS: tuple[str, ...] = ("measured", "simulated", "estimate")
ARCH_KINDS: tuple[str, ...] = (*KINDS, "specification")
PROVENANCES: tuple[str, ...] = ("primary", "secondary")
COUNTS: tuple[str, ...] = ("synops", "macs", "dense", "neuron_updates", "spikes")

# section -> (canonical unit, {accepted unit: factor to canonical})
UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "energy": ("pJ", {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6, "mJ": 1e9, "J": 1e12}),
    "power": ("mW", {"uW": 1e-3, "mW": 1.0, "W": 1e3}),
    "timing": ("ns", {"ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}),
    "architecture": ("", {"count": 1.0, "bit": 1.0, "byte": 1.0, "KiB": 1024.0, "MiB": 1024.0**2}),
}
SECTIONS = tuple(UNITS)
WHOLE_UNITS = ("count", "bit")  # architecture facts counted in whole units (byte sizes may be derived)
TOP_KEYS = {"name", "title", "description", "sources", "absent", "models", "default_model", "notes", *SECTIONS}
CONSTANT_KEYS = {"value", "unit", "kind", "source", "where", "note", "provenance", "via"}
TERM_KEYS = {"count", "energy", "low", "note"}
MODEL_KEYS = {"snn", "ann", "covers", "static", "lower_bound"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class ProfileError(UserError):
    """A chip profile file that cannot be used."""


@dataclass(frozen=True)
class Constant:
    """One cited number, in its section's canonical unit (pJ, mW, ns; counts, bits or bytes)."""

    name: str
    section: str
    value: float
    unit: str
    given: str  # as written in the file, e.g. "2.19 nJ"
    kind: str
    source: str
    where: str
    note: str = ""
    provenance: str = "primary"
    via: str = ""


@dataclass(frozen=True)
class Term:
    """``count`` x (sum of the ``energy`` constants); ``low`` prices the low end of a range."""

    count: str
    energy: tuple[str, ...]
    low: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Model:
    name: str
    snn: tuple[Term, ...] = ()
    ann: tuple[Term, ...] = ()
    covers: tuple[str, ...] = ()
    static: str | None = None
    lower_bound: str = ""  # why totals priced by this model are lower bounds ("" when they are not)


@dataclass(frozen=True)
class ChipProfile:
    name: str
    title: str
    description: str
    path: Path
    sources: dict[str, dict[str, str]]
    constants: dict[str, Constant]
    absent: dict[str, str]
    models: dict[str, Model]
    default_model: str | None
    notes: tuple[str, ...]

    def arch(self, name: str) -> Constant | None:
        c = self.constants.get(name)
        return c if c is not None and c.section == "architecture" else None

    def model(self, variant: str | None = None) -> Model | None:
        """The named pricing model (the default when None); None if the profile prices nothing."""
        if not self.models:
            return None
        key = variant or self.default_model
        if key not in self.models:
            raise ProfileError(f"chip '{self.name}': no model variant {key!r}; choose one of {sorted(self.models)}")
        return self.models[key]

    def citation(self, source: str) -> str:
        s = self.sources[source]
        ref = f", doi:{s['doi']}" if s.get("doi") else (f", {s['url']}" if s.get("url") else "")
        return s["citation"] + ref

    def short_citation(self, source: str) -> str:
        """How a table row cites ``source``: its ``short`` form, else the full citation."""
        s = self.sources[source]
        return s.get("short") or s["citation"]

    def cite(self, c: Constant) -> str:
        """``value unit (kind; citation, where[; via ...])`` for reports."""
        via = f"; via {c.via}" if c.provenance == "secondary" else ""
        return f"{c.given} ({c.kind}; {self.citation(c.source)}, {c.where}{via})"


# ----------------------------------------------------------------------------------------------- loading

def builtin_chips() -> dict[str, Path]:
    """Profiles shipped with neurokd: ``{name: path}``."""
    return {p.stem: p for p in sorted(CHIP_DIR.glob("*.yaml"))}


def _fail(path: Path, key: str, problem: str) -> ProfileError:
    where = f"key '{key}': " if key else ""
    return ProfileError(f"chip profile {path}: {where}{problem}")


def _str(path: Path, key: str, v: Any, required: bool = True) -> str:
    if v is None and not required:
        return ""
    if not isinstance(v, str) or not v.strip():
        raise _fail(path, key, f"expected a non-empty string, got {v!r}")
    return v.strip()


def _mapping(path: Path, key: str, v: Any) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _fail(path, key, f"expected a mapping, got {type(v).__name__}")
    return v


def _unknown(path: Path, key: str, got: dict, allowed: set[str]) -> None:
    extra = sorted(set(got) - allowed)
    if extra:
        prefix = f"{key}." if key else ""
        raise _fail(path, f"{prefix}{extra[0]}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _constant(path: Path, section: str, name: str, raw: Any, sources: dict) -> Constant:
    key = f"{section}.{name}"
    if not _NAME.match(str(name)):
        raise _fail(path, key, "names use lowercase letters, digits, '_', '-' and '.'")
    raw = _mapping(path, key, raw)
    _unknown(path, key, raw, CONSTANT_KEYS)
    for req in ("value", "unit", "kind", "source", "where"):
        if req not in raw:
            raise _fail(path, f"{key}.{req}", "missing (every constant needs value, unit, kind, source, where)")
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise _fail(path, f"{key}.value", f"expected a positive number (and finite), got {value!r}")
    canonical, factors = UNITS[section]
    unit = raw["unit"]
    if unit not in factors:
        raise _fail(path, f"{key}.unit", f"{unit!r} is not a unit of section '{section}'; use one of {', '.join(factors)}")
    if unit in WHOLE_UNITS and value != int(value):
        raise _fail(path, f"{key}.value", f"a number of {unit}s must be whole, got {value!r}")
    kinds = ARCH_KINDS if section == "architecture" else KINDS
    kind = raw["kind"]
    if kind not in kinds:
        raise _fail(path, f"{key}.kind", f"must be one of {', '.join(kinds)}, got {kind!r}")
    source = raw["source"]
    if source not in sources:
        raise _fail(path, f"{key}.source", f"{source!r} is not listed under 'sources'")
    provenance = raw.get("provenance", "primary")
    if provenance not in PROVENANCES:
        raise _fail(path, f"{key}.provenance", f"must be one of {', '.join(PROVENANCES)}, got {provenance!r}")
    via = _str(path, f"{key}.via", raw.get("via"), required=provenance == "secondary")
    if section == "architecture":
        canonical = "byte" if unit in ("byte", "KiB", "MiB") else unit
    return Constant(
        name=name, section=section, value=float(value) * factors[unit], unit=canonical, given=f"{value:g} {unit}",
        kind=kind, source=source, where=_str(path, f"{key}.where", raw["where"]),
        note=_str(path, f"{key}.note", raw.get("note"), required=False), provenance=provenance, via=via,
    )


def _term(path: Path, key: str, raw: Any, energies: dict[str, Constant]) -> Term:
    raw = _mapping(path, key, raw)
    _unknown(path, key, raw, TERM_KEYS)
    count = raw.get("count")
    if count not in COUNTS:
        raise _fail(path, f"{key}.count", f"must be one of {', '.join(COUNTS)}, got {count!r}")
    names = raw.get("energy")
    names = [names] if isinstance(names, str) else names
    if not names or not isinstance(names, list):
        raise _fail(path, f"{key}.energy", "expected an energy constant name or a list of them")
    for n in [*names, *([raw["low"]] if raw.get("low") is not None else [])]:
        if n not in energies:
            raise _fail(path, key, f"{n!r} is not a constant of the 'energy' section")
    return Term(count, tuple(names), raw.get("low"), _str(path, f"{key}.note", raw.get("note"), required=False))


def _model(path: Path, name: str, raw: Any, constants: dict[str, Constant]) -> Model:
    key = f"models.{name}"
    raw = _mapping(path, key, raw)
    _unknown(path, key, raw, MODEL_KEYS)
    energies = {k: c for k, c in constants.items() if c.section == "energy"}
    terms = {}
    for net in ("snn", "ann"):
        items = raw.get(net) or []
        if not isinstance(items, list):
            raise _fail(path, f"{key}.{net}", "expected a list of terms")
        terms[net] = tuple(_term(path, f"{key}.{net}[{i}]", t, energies) for i, t in enumerate(items))
    covers = raw.get("covers") or []
    if not isinstance(covers, list) or any(c not in COUNTS for c in covers):
        raise _fail(path, f"{key}.covers", f"expected a list of counts from {', '.join(COUNTS)}")
    static = raw.get("static")
    if static is not None and (static not in constants or constants[static].section != "power"):
        raise _fail(path, f"{key}.static", f"{static!r} is not a constant of the 'power' section")
    if not terms["snn"] and not terms["ann"] and static is None:
        raise _fail(path, key, "prices nothing: give snn/ann terms or a static power")
    bound = _str(path, f"{key}.lower_bound", raw.get("lower_bound"), required=False)
    return Model(name, terms["snn"], terms["ann"], tuple(covers), static, bound)


def load_profile(path: str | Path) -> ChipProfile:
    """Read and validate one profile file (YAML or JSON)."""
    path = Path(path)
    # a regular file within the text size limit, parsed with bounded depth and alias expansion
    data = load_yaml_text(read_text(path, "chip profile", ProfileError), f"chip profile {path}", ProfileError)
    data = _mapping(path, "", data)
    _unknown(path, "", data, TOP_KEYS)
    name = _str(path, "name", data.get("name"))
    if not _NAME.match(name):
        raise _fail(path, "name", "use lowercase letters, digits, '_', '-' and '.'")
    sources: dict[str, dict[str, str]] = {}
    for key, raw in _mapping(path, "sources", data.get("sources")).items():
        raw = _mapping(path, f"sources.{key}", raw)
        _unknown(path, f"sources.{key}", raw, {"citation", "short", "doi", "url"})
        sources[key] = {"citation": _str(path, f"sources.{key}.citation", raw.get("citation")),
                        **{k: str(raw[k]) for k in ("doi", "url") if raw.get(k)}}
        if raw.get("short") is not None:
            sources[key]["short"] = _str(path, f"sources.{key}.short", raw["short"])
    if not sources:
        raise _fail(path, "sources", "a profile must cite at least one source")
    constants: dict[str, Constant] = {}
    for section in SECTIONS:
        for cname, raw in _mapping(path, section, data.get(section)).items():
            if cname in constants:
                raise _fail(path, f"{section}.{cname}", f"already defined in section '{constants[cname].section}'")
            constants[cname] = _constant(path, section, cname, raw, sources)
    absent = {}
    for aname, reason in _mapping(path, "absent", data.get("absent")).items():
        if aname in constants:
            raise _fail(path, f"absent.{aname}", "is both given a value and listed as absent")
        absent[aname] = _str(path, f"absent.{aname}", reason)
    models = {mname: _model(path, mname, raw, constants)
              for mname, raw in _mapping(path, "models", data.get("models")).items()}
    default_model = data.get("default_model")
    if models:
        if default_model is None and len(models) == 1:
            default_model = next(iter(models))
        if default_model not in models:
            raise _fail(path, "default_model", f"must name one of the models ({', '.join(models)}), got {default_model!r}")
    elif default_model is not None:
        raise _fail(path, "default_model", "given but 'models' is empty")
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _fail(path, "notes", "expected a list of strings")
    return ChipProfile(
        name=name, title=_str(path, "title", data.get("title")),
        description=_str(path, "description", data.get("description"), required=False), path=path,
        sources=sources, constants=constants, absent=absent, models=models, default_model=default_model,
        notes=tuple(notes),
    )


def resolve_chip(spec: str) -> tuple[ChipProfile, str | None]:
    """``"loihi"``, ``"cmos-45nm:int8"`` (built-in name, optional model variant) or a profile file path."""
    chips = builtin_chips()
    path = Path(spec)
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        return load_profile(path), None
    name, _, variant = spec.partition(":")
    if name in chips:
        profile = load_profile(chips[name])
    elif Path(name).is_file():
        profile = load_profile(name)
    else:
        raise ProfileError(f"unknown chip {spec!r}: use one of {', '.join(chips)} (optionally name:variant) "
                           "or the path of a profile file")
    if variant:
        profile.model(variant)  # validates the variant
    return profile, variant or None


__all__ = [
    "ARCH_KINDS", "CHIP_DIR", "COUNTS", "KINDS", "ChipProfile", "Constant", "Model", "ProfileError", "Term",
    "builtin_chips", "load_profile", "resolve_chip",
]
