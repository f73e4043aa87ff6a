import pytest

from neurokd.config import RunConfig
from neurokd.configlib import build_config, load_yaml
from neurokd.errors import ConfigError


def test_defaults_and_overrides():
    cfg = build_config(RunConfig, overrides={"optim.lr": 0.01, "model.neuron.reset": "subtract",
                                             "data.augment": "crop,flip"})
    assert cfg.optim.lr == 0.01 and cfg.model.neuron.reset == "subtract" and cfg.data.augment == ["crop", "flip"]
    assert cfg.model.T == 4 and cfg.data.name == "digits"


def test_exponent_floats_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) loads "3e-3" as a string; configs and flags must still accept it
    f = tmp_path / "c.yaml"
    f.write_text("optim:\n  lr: 3e-3\n")
    assert build_config(RunConfig, [f]).optim.lr == 0.003
    assert build_config(RunConfig, overrides={"optim.lr": "1E-4"}).optim.lr == 0.0001


@pytest.mark.parametrize("over,message", [
    ({"optim.lrr": 1}, "config key 'optim.lrr': unknown key"),
    ({"optim.lr": "fast"}, "config key 'optim.lr': expected a number, got 'fast'"),
    ({"optim.lr": 0}, "config key 'optim.lr': must be > 0.0"),
    ({"model.T": 0}, "config key 'model.T': must be >= 1"),
    ({"model.neuron.beta": 1.5}, "config key 'model.neuron.beta': must be <= 1.0"),
    ({"data.name": "imagenet22k"}, "config key 'data.name': expected one of"),
    ({"train.amp": "yes"}, "config key 'train.amp': expected true/false"),
    ({"optim": 3}, "config key 'optim': expected a mapping"),
])
def test_bad_values_name_the_key(over, message):
    with pytest.raises(ConfigError) as e:
        build_config(RunConfig, overrides=over)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_yaml_files_merge_and_malformed_yaml_is_reported(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("optim:\n  lr: 0.1\n  epochs: 3\nmodel:\n  arch: cnn1d\n")
    b = tmp_path / "b.yaml"
    b.write_text("optim:\n  epochs: 7\n")
    cfg = build_config(RunConfig, [a, b])
    assert (cfg.optim.lr, cfg.optim.epochs, cfg.model.arch) == (0.1, 7, "cnn1d")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: malformed YAML at line \d+"):
        load_yaml(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    top = tmp_path / "list.yaml"
    top.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(top)
