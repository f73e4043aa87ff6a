"""Training with ``train.backprop rate``: config, learning, objectives, exact resume."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from neurokd.cli import main as cli_main
from neurokd.config import RunConfig
from neurokd.configlib import build_config
from neurokd.errors import ConfigError
from neurokd.train import run_training
from neurokd.train.objective import Objective
from tests.distill.conftest import run_cfg, zoo
from tests.train.interrupt import run_interrupted


def test_config_key_defaults_overrides_and_validation():
    cfg = build_config(RunConfig)
    assert cfg.train.backprop == "bptt" and cfg.train.rate_chunk == 4
    cfg = build_config(RunConfig, overrides={"train.backprop": "rate", "train.rate_chunk": 2})
    assert cfg.train.backprop == "rate" and cfg.train.rate_chunk == 2
    with pytest.raises(ConfigError, match=r"train\.backprop.*'bptt', 'rate'"):
        build_config(RunConfig, overrides={"train.backprop": "online"})
    with pytest.raises(ConfigError, match=r"train\.rate_chunk.*>= 1"):
        build_config(RunConfig, overrides={"train.rate_chunk": 0})


def test_plain_objective_dispatches_on_backprop():
    torch.manual_seed(0)
    model = zoo("cnn", [1, 8, 8], kind="snn", T=3, width=8).train()
    x, y = torch.rand(6, 1, 8, 8), torch.randint(0, 10, (6,))
    obj = Objective()
    assert obj.backprop == "bptt"
    ref = copy.deepcopy(model)
    out = obj(model, x, y)
    assert torch.equal(out.logits, ref(x))  # BPTT: exactly the model's forward
    obj.set_backprop("rate", 4)
    rate = copy.deepcopy(ref)
    out_r = obj(rate, x, y)
    assert out_r.logits.grad_fn is not None
    torch.testing.assert_close(out_r.loss, F.cross_entropy(ref(x), y), rtol=1e-5, atol=1e-6)
    ann = zoo("cnn", [1, 8, 8]).train()
    assert not obj.uses_rate(ann)  # ANNs have no time: plain backprop
    assert torch.equal(obj(ann, x, y).logits, ann(x))


def test_rate_training_learns_digits_and_resumes_exactly(tmp_path, monkeypatch):
    over = {"model.T": 4, "optim.epochs": 3, "train.backprop": "rate", "optim.lr": 3e-3}
    straight = run_training(run_cfg(tmp_path, name="straight", **over))
    s = json.loads((straight.run_dir / "summary.json").read_text())
    assert s["backprop"] == "rate" and s["test_acc"] > 0.75

    run_interrupted(monkeypatch, Objective, lambda: run_training(run_cfg(tmp_path, name="cut", **over)))
    resumed = run_training(run_cfg(tmp_path, name="cut"), resume=True)
    wa, wb = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_cli_backprop_alias(tmp_path):
    code = cli_main(["train", "--out-dir", str(tmp_path), "--name", "c", "--epochs", "1", "--model.width", "4",
                     "--T", "2", "--backprop", "rate", "--train.threads", "1", "--no-progress"])
    assert code in (0, None)
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["backprop"] == "rate"
