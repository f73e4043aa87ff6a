"""Energy = counts x cited per-operation energies, by hand; unpriced work is listed, never dropped."""

import pytest

from neurokd.hardware.chips import resolve_chip
from neurokd.hardware.counting import Counts, LayerCounts
from neurokd.hardware.energy import energy_ratio, estimate_energy


def make_counts(synops=1000.0, macs=200.0, neurons=25, T=4, spikes=10.0, network="snn", dense=5000.0) -> Counts:
    layers = [
        LayerCounts(name="enc", type="Conv2d", kind="synapse", op="MAC", acs=0.0, macs=macs, dense=dense / 2,
                    input_from="input"),
        LayerCounts(name="lif", type="LIF", kind="neuron", neurons=neurons, neuron_updates=float(neurons * T),
                    spikes=spikes, firing_rate=spikes / (neurons * T)),
        LayerCounts(name="fc", type="Linear", kind="synapse", op="AC", acs=synops, macs=0.0, dense=dense / 2),
    ]
    if network == "ann":
        layers = [lc for lc in layers if lc.kind == "synapse"]
    return Counts(network=network, T=T if network == "snn" else 1, samples=8, layers=layers, params=100,
                  synaptic_weights=90, nonzero_weights=80, encoder="direct")


def test_loihi_by_hand():
    e = estimate_energy(make_counts(), resolve_chip("loihi")[0])
    # 1000 x 23.6 pJ + 100 neuron updates x 81 pJ (52 pJ at the low end) + 10 spikes x 1.7 pJ
    assert e.total_uj == pytest.approx((23600 + 8100 + 17) / 1e6, rel=1e-12)
    assert e.low_uj == pytest.approx((23600 + 5200 + 17) / 1e6, rel=1e-12)
    assert e.kinds == ["simulated"]
    assert e.encoding_included is False and not e.complete
    assert len(e.unpriced) == 1 and e.unpriced[0].startswith("macs: 200 per sample not priced")
    assert any("NOT priced" in a for a in e.assumptions) and any("T = 4" in a for a in e.assumptions)
    # a minimum synop energy and an unpriced encoding layer: a lower bound, never labelled "simulated" alone
    assert e.lower_bound[0].startswith("the synaptic-op energy is Table 2's minimum") and "macs not priced" in \
        e.lower_bound and e.kind_label == "lower bound (simulated constants)"
    assert e.citations == ["Davies et al. 2018"] and e.key == "loihi"


def test_cmos_45nm_snn_and_ann_by_hand():
    profile = resolve_chip("cmos-45nm")[0]
    e = estimate_energy(make_counts(), profile)
    # 1000 adds x 0.9 + 200 MACs x (3.7 + 0.9) + 100 neuron updates x 4.6
    assert e.total_uj == pytest.approx((900 + 920 + 460) / 1e6, rel=1e-12)
    assert e.encoding_included is True and e.kinds == ["estimate"]
    ann = estimate_energy(make_counts(network="ann"), profile)
    assert ann.total_uj == pytest.approx(5000 * 4.6 / 1e6, rel=1e-12)  # every dense MAC
    assert energy_ratio(ann, e) == pytest.approx(23000 / 2280, rel=1e-12)
    int8 = estimate_energy(make_counts(), profile, "int8")
    assert int8.total_uj == pytest.approx((1000 * 0.03 + 200 * 0.23 + 100 * 0.23) / 1e6, rel=1e-12)


def test_truenorth_all_in_does_not_charge_neuron_updates():
    e = estimate_energy(make_counts(), resolve_chip("truenorth")[0])
    assert e.total_uj == pytest.approx(1000 * 26 / 1e6, rel=1e-12)
    assert e.kinds == ["measured"]
    assert [u.split(":")[0] for u in e.unpriced] == ["macs"]  # neuron updates and spikes are inside the 26 pJ


def test_static_power_needs_a_latency():
    speck = resolve_chip("speck")[0]
    e = estimate_energy(make_counts(), speck)
    assert e.total_uj is None and any("no latency" in a for a in e.assumptions)
    e = estimate_energy(make_counts(), speck, latency_s=0.01)
    assert e.static_uj == pytest.approx(0.42e-3 * 0.01 * 1e6)  # 0.42 mW x 10 ms = 4.2 uJ
    assert e.total_uj == e.static_uj and e.kinds == ["measured"]


def test_chip_without_published_energies_gives_none():
    e = estimate_energy(make_counts(), resolve_chip("loihi2")[0])
    assert e.total_uj is None and e.encoding_included is None
    assert {u.split(":")[0] for u in e.unpriced} == {"synops", "macs", "neuron_updates", "spikes"}


def test_speck_static_power_is_a_lower_bound_not_a_measurement():
    e = estimate_energy(make_counts(), resolve_chip("speck")[0], latency_s=0.01)
    assert e.kinds == ["measured"] and e.lower_bound and e.kind_label == "lower bound (measured constants)"
    assert estimate_energy(make_counts(), resolve_chip("speck")[0]).lower_bound == []  # nothing priced: no bound


def test_truenorth_all_in_figure_is_not_a_lower_bound_without_unpriced_work():
    e = estimate_energy(make_counts(macs=0.0), resolve_chip("truenorth")[0])
    assert e.complete and e.lower_bound == [] and e.kind_label == "measured"


def test_plain_convention_prices_acs_and_macs_only():
    profile = resolve_chip("cmos-45nm")[0]
    full = estimate_energy(make_counts(), profile)
    plain = estimate_energy(make_counts(), profile, convention="plain")
    # 1000 ACs x 0.9 + 200 MACs x 4.6; the 100 neuron updates (x 4.6) of the full convention are left out
    assert plain.total_uj == pytest.approx((900 + 920) / 1e6, rel=1e-12)
    assert full.total_uj - plain.total_uj == pytest.approx(460 / 1e6, rel=1e-12)
    assert [t.count for t in plain.terms] == ["synops", "macs"] and plain.convention == "plain"
    assert "neuron_updates not priced (plain convention)" in plain.lower_bound
    assert any(a.startswith("convention (plain): E_SNN = ACs x E_AC + MACs x E_MAC") for a in plain.assumptions)
    ann = make_counts(network="ann")
    assert estimate_energy(ann, profile, convention="plain").total_uj == estimate_energy(ann, profile).total_uj
    with pytest.raises(ValueError, match="unknown energy convention"):
        estimate_energy(make_counts(), profile, convention="lean")


def test_variant_keys():
    profile = resolve_chip("cmos-45nm")[0]
    assert estimate_energy(make_counts(), profile).key == "cmos-45nm"
    assert estimate_energy(make_counts(), profile, "fp32").key == "cmos-45nm"  # the default variant
    assert estimate_energy(make_counts(), profile, "int8").key == "cmos-45nm:int8"
