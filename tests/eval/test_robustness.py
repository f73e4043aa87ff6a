"""Robustness suite: corruption semantics, identical inputs for every model, outputs."""

import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from neurokd.data.base import ArrayDataset
from neurokd.eval.robustness import (
    DataStats,
    aggregate_seeds,
    clutter,
    contrast,
    corrupt_dataset,
    default_corruptions,
    evaluate_robustness,
    gaussian_noise,
    occlusion,
    robustness_markdown,
    rotate,
    salt_and_pepper,
    save_robustness_plot,
    shift,
)

STATS = DataStats(mean=0.5, std=2.0, min=-1.0, max=3.0)


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gaussian_and_salt_pepper_follow_their_severity():
    x = torch.zeros(200, 1, 50)
    noise = gaussian_noise(x, 0.25, _g(), STATS)
    assert abs(noise.std().item() - 0.5) < 0.01  # sigma 0.25 x data std 2.0
    sp = salt_and_pepper(torch.full((100, 3, 20, 20), 0.7), 0.1, _g(), STATS)
    hit = sp != 0.7
    assert abs(hit.float().mean().item() - 0.1) < 0.01
    assert set(sp[hit].unique().tolist()) == {-1.0, 3.0}


def test_rotation_by_90_degrees_is_rot90_either_way():
    x = torch.rand(16, 2, 6, 6)
    out = rotate(x, 90.0, _g(), STATS)
    for i in range(16):
        assert any(torch.allclose(out[i], torch.rot90(x[i], k, (1, 2)), atol=1e-5) for k in (1, -1))
    assert torch.allclose(rotate(x, 0.0, _g(), STATS), x, atol=1e-6)


def test_shift_moves_signals_and_repeats_the_edge():
    x = torch.arange(10.0).view(1, 1, 10).repeat(8, 2, 1)
    out = shift(x, 3, _g(), STATS)
    right = torch.tensor([0, 0, 0, 0, 1, 2, 3, 4, 5, 6.0])
    left = torch.tensor([3, 4, 5, 6, 7, 8, 9, 9, 9, 9.0])
    for i in range(8):
        assert torch.equal(out[i, 0], right) or torch.equal(out[i, 0], left)
        assert torch.equal(out[i, 0], out[i, 1])


def test_occlusion_contrast_and_clutter():
    img = torch.rand(10, 3, 10, 10) + 1.0
    occ = occlusion(img, 0.3, _g(), STATS)
    assert ((occ == 0).all(1).flatten(1).sum(1) == 9).all()  # a 3x3 square across all channels
    sig = torch.rand(10, 1, 40) + 1.0
    assert ((occlusion(sig, 0.25, _g(), STATS) == 0).flatten(1).sum(1) == 10).all()
    c = contrast(img, 0.4, _g(), STATS)
    torch.testing.assert_close(c.flatten(1).mean(1), img.flatten(1).mean(1))
    torch.testing.assert_close(c.flatten(1).std(1), 0.4 * img.flatten(1).std(1))
    digits = torch.zeros(4, 1, 8, 8)
    digits[:, :, 2:6, 3:5] = 3.0  # a stroke on an empty (data-min) background
    cl = clutter(digits, 0.5, _g(), DataStats.of(digits))  # min 0, max 3
    assert torch.equal(cl[:, :, 2:6, 3:5], digits[:, :, 2:6, 3:5])
    background = cl[digits == 0]
    assert (background >= 0).all() and (background <= 0.5 * 3.0).all() and background.std() > 0.05


def test_suites_for_images_and_signals():
    assert [c.name for c in default_corruptions([1, 8, 8])] == [
        "gaussian", "salt_pepper", "rotation", "clutter", "occlusion", "contrast"]
    assert "shift" in [c.name for c in default_corruptions([1, 40])]
    for shape in ([1, 8, 8], [1, 40], [3, 12, 12]):
        x = torch.rand(5, *shape)
        for c in default_corruptions(shape):
            for level in range(len(c.severities)):
                out = corrupt_dataset(x, c, level, 0, 0, DataStats.of(x))
                assert out.shape == x.shape and torch.isfinite(out).all()


class Threshold(nn.Module):
    """Classifies by the sign of the input mean: sensitive to noise in a predictable way."""

    def __init__(self, flip=False):
        super().__init__()
        self.flip = flip

    def forward(self, x):
        m = x.flatten(1).mean(1, keepdim=True)
        logits = torch.cat([-m, m], 1)
        return -logits if self.flip else logits


class Spy(Threshold):
    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return super().forward(x)


def test_every_model_sees_the_same_corrupted_inputs():
    x = torch.randn(300, 1, 8, 8) * 0.05 + torch.randint(0, 2, (300, 1, 1, 1)) * 0.2 - 0.1
    y = (x.flatten(1).mean(1) > 0).long()
    data = ArrayDataset(x, y)
    suite = default_corruptions([1, 8, 8])
    res = evaluate_robustness({"a": Threshold(), "b": Threshold(), "inv": Threshold(flip=True)}, data, suite,
                              seed=3, batch_size=64, progress=False)
    assert res["clean"]["a"] == 1.0 and res["clean"]["inv"] == 0.0
    for c in suite:
        assert res["acc"][c.name]["a"] == res["acc"][c.name]["b"]  # identical inputs, identical models
        # a two-class flipped model is right exactly where the other is wrong, on the same inputs
        assert all(abs(p + q - 1) < 1e-12 for p, q in zip(res["acc"][c.name]["a"], res["acc"][c.name]["inv"]))
    spies = {"p": Spy(), "q": Spy()}
    evaluate_robustness(spies, data, suite, seed=3, batch_size=64, progress=False)
    assert len(spies["p"].seen) == len(spies["q"].seen) > 20
    assert all(torch.equal(u, v) for u, v in zip(spies["p"].seen, spies["q"].seen))
    stats = DataStats.of(x)
    same = corrupt_dataset(x, suite[0], 2, seed=3, index=0, stats=stats)
    assert torch.equal(same, corrupt_dataset(x, suite[0], 2, seed=3, index=0, stats=stats))
    assert not torch.equal(same, corrupt_dataset(x, suite[0], 2, seed=4, index=0, stats=stats))
    agg = aggregate_seeds(res, {"ab": ["a", "b"], "inv": ["inv"]})
    assert agg["acc"]["gaussian"]["ab"] == res["acc"]["gaussian"]["a"] and agg["acc_std"]["gaussian"]["ab"][0] == 0
    table = robustness_markdown(agg)
    assert "| gaussian" in table and "mean corrupted" in table and "ab acc %" in table


def test_plot_and_cli(tmp_path):
    from neurokd.train import run_training
    from tests.distill.conftest import run_cfg

    runs = [run_training(run_cfg(tmp_path, name=n, **{"model.kind": k, "optim.epochs": 1})).run_dir
            for n, k in (("ann", "ann"), ("snn", "snn"))]
    out = tmp_path / "rob"
    r = subprocess.run([sys.executable, "-m", "neurokd", "robustness", *map(str, runs), "--out", str(out),
                        "--no-progress", "--corruptions", "gaussian,rotation"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "robustness.json").read_text())
    assert set(res["clean"]) == {"ann", "snn"} and set(res["acc"]) == {"gaussian", "rotation"}
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG" and "| rotation" in r.stdout
    bad = subprocess.run([sys.executable, "-m", "neurokd", "robustness", str(runs[0]), "--corruptions", "fog",
                          "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown fog" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("n_models", [1, 7])
def test_plot_writes_png(tmp_path, n_models):
    res = {"corruptions": {"gaussian": {"severities": [0.1, 0.2], "unit": "u"}},
           "clean": {f"m{i}": 0.9 for i in range(n_models)},
           "acc": {"gaussian": {f"m{i}": [0.8, 0.7] for i in range(n_models)}}}
    save_robustness_plot(res, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
