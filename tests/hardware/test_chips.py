"""Chip profiles: every built-in constant cited and typed; bad files -> one-line errors naming file and key."""

import pytest

from neurokd.errors import UserError
from neurokd.hardware.chips import ARCH_KINDS, KINDS, ProfileError, builtin_chips, load_profile, resolve_chip

GOOD = """
name: mychip
title: My chip
sources:
  me2025: {citation: "A. Author, A chip, 2025"}
energy:
  synop: {value: 10, unit: pJ, kind: measured, source: me2025, where: "Table 1"}
absent:
  mac: "not measured"
models:
  default:
    snn:
      - {count: synops, energy: synop}
"""


def test_builtin_profiles_load_and_every_constant_is_cited():
    chips = builtin_chips()
    assert {"cmos-45nm", "loihi", "loihi2", "truenorth", "spinnaker2", "speck"} <= set(chips)
    for name, path in chips.items():
        p = load_profile(path)
        assert p.name == name
        for c in p.constants.values():
            assert c.kind in (ARCH_KINDS if c.section == "architecture" else KINDS), (name, c.name)
            assert c.source in p.sources and c.where, (name, c.name)
            assert c.provenance == "primary" or c.via, (name, c.name)


def test_loihi_profile_values_are_table_2_and_3_5_is_nanoseconds():
    p = load_profile(builtin_chips()["loihi"])
    e = {k: c for k, c in p.constants.items() if c.section == "energy"}
    assert e["synop"].value == 23.6 and e["synop"].unit == "pJ" and e["synop"].kind == "simulated"
    assert "Table 2" in e["synop"].where
    assert e["neuron_update_active"].value == 81 and e["neuron_update_inactive"].value == 52
    assert e["spike_within_tile"].value == 1.7
    # the 3.5 of Table 2 is a time: never an energy, never added to the 23.6 pJ
    assert all(c.value not in (3.5, 23.6 + 3.5) for c in e.values())
    t = p.constants["synop_time_max"]
    assert t.section == "timing" and t.value == 3.5 and t.unit == "ns"
    synop_terms = [term for term in p.model().snn if term.count == "synops"]
    assert [term.energy for term in synop_terms] == [("synop",)]
    assert "mac" in p.absent and "static_power" in p.absent


def test_truenorth_is_measured_all_in_and_covers_neuron_updates():
    p = load_profile(builtin_chips()["truenorth"])
    c = p.constants["synaptic_event_all_in"]
    assert c.value == 26 and c.kind == "measured"
    assert set(p.model().covers) == {"neuron_updates", "spikes"}


def test_loihi2_prices_nothing_and_says_why():
    p = load_profile(builtin_chips()["loihi2"])
    assert p.model() is None
    assert not [c for c in p.constants.values() if c.section == "energy"]
    assert "synop" in p.absent and "Loihi 2" in p.absent["synop"]


def test_user_profile_file_and_variants(tmp_path):
    f = tmp_path / "mychip.yaml"
    f.write_text(GOOD)
    p, variant = resolve_chip(str(f))
    assert p.name == "mychip" and variant is None and p.model().snn[0].energy == ("synop",)
    p, variant = resolve_chip("cmos-45nm:int8")
    assert variant == "int8" and p.model(variant).snn[0].energy == ("add_int8",)


@pytest.mark.parametrize("edit,key,words", [
    (("kind: measured", "kind: guessed"), "energy.synop.kind", "measured, simulated, estimate"),
    (("source: me2025, where", "source: nobody, where"), "energy.synop.source", "not listed under 'sources'"),
    (("unit: pJ", "unit: ns"), "energy.synop.unit", "not a unit of section 'energy'"),
    (("value: 10", "value: -1"), "energy.synop.value", "positive number"),
    ((', where: "Table 1"', ""), "energy.synop.where", "missing"),
    (("  mac: \"not measured\"", "  synop: \"unknown\""), "absent.synop", "both given a value and listed as absent"),
    (("energy: synop}", "energy: mac}"), "models.default.snn[0]", "not a constant of the 'energy' section"),
    (("count: synops", "count: flops"), "models.default.snn[0].count", "synops, macs"),
    (("name: mychip", "name: mychip\ncolour: red"), "colour", "unknown key"),
    (("  default:\n", "  default:\n    lower_bound: [1]\n"), "models.default.lower_bound", "non-empty string"),
    (('2025"}', '2025", short: ""}'), "sources.me2025.short", "non-empty string"),
])
def test_bad_profiles_give_one_line_errors(tmp_path, edit, key, words):
    f = tmp_path / "bad.yaml"
    text = GOOD.replace(*edit)
    assert text != GOOD
    f.write_text(text)
    with pytest.raises(ProfileError) as e:
        load_profile(f)
    msg = str(e.value)
    assert isinstance(e.value, UserError)
    assert "\n" not in msg and str(f) in msg and f"key '{key}'" in msg and words in msg, msg


def test_short_citations_and_lower_bounds(tmp_path):
    f = tmp_path / "chip.yaml"
    f.write_text(GOOD.replace('2025"}', '2025", short: "Author 2025"}').replace(
        "  default:\n", "  default:\n    lower_bound: \"routing not priced\"\n"))
    p = load_profile(f)
    assert p.short_citation("me2025") == "Author 2025" and p.model().lower_bound == "routing not priced"
    assert load_profile(builtin_chips()["truenorth"]).model().lower_bound == ""
    assert load_profile(builtin_chips()["speck"]).model().lower_bound.startswith("resting power x latency only")


def test_malformed_yaml_and_unknown_chip(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("name: [x\n")
    with pytest.raises(ProfileError, match="malformed YAML"):
        load_profile(f)
    with pytest.raises(ProfileError, match="unknown chip 'loihi3'"):
        resolve_chip("loihi3")
    with pytest.raises(ProfileError, match="no model variant 'fp64'"):
        resolve_chip("cmos-45nm:fp64")
