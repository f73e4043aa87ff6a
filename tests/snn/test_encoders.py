import torch

from neurokd.snn import TimeFolded, direct_encode, encode, fold, poisson_encode, unfold


def test_direct_encoding_repeats_input():
    x = torch.rand(2, 1, 3, 3)
    seq = direct_encode(x, 4)
    assert seq.shape == (4, 2, 1, 3, 3)
    assert all(torch.equal(seq[t], x) for t in range(4))


def test_poisson_rate_matches_intensity_and_is_seeded():
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]]).expand(2000, 4)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = poisson_encode(x, 8, g1), poisson_encode(x, 8, g2)
    assert torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    rate = a.mean(dim=(0, 1))
    assert rate[0] == 0 and rate[3] == 1
    assert abs(rate[1].item() - 0.25) < 0.02 and abs(rate[2].item() - 0.5) < 0.02


def test_encode_rejects_unknown_kind():
    import pytest

    with pytest.raises(ValueError):
        encode(torch.zeros(1, 2), 2, "burst")


def test_time_folding_runs_layer_once_and_matches_per_step():
    conv = torch.nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 5, 2, 6, 6)
    folded = TimeFolded(conv)(x)
    per_step = torch.stack([conv(x[t]) for t in range(4)])
    torch.testing.assert_close(folded, per_step)
    assert torch.equal(unfold(fold(x), 4), x)
