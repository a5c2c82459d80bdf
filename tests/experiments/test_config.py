"""Configuration: defaults, grid expansion, run keys, files, and errors that name the field."""

from __future__ import annotations

import json
import re

import pytest

from multilabel_ls.experiments.config import (
    DEFAULT_EPSILONS,
    DEFAULT_STRATEGIES,
    ConfigError,
    ExperimentConfig,
    TrainConfig,
    config_from_dict,
    load_config,
)


def test_default_grid_is_the_yeast_speed_bar():
    cfg = ExperimentConfig()
    runs = cfg.expand()
    assert cfg.datasets == ("yeast",)
    assert len(runs) == len(DEFAULT_STRATEGIES) * len(DEFAULT_EPSILONS) * 5 == 150
    assert len({r.key for r in runs}) == 150


def test_asymmetric_strategies_expand_over_pairs():
    cfg = ExperimentConfig(strategies=("binary", "asymmetric"), epsilons=(0, 0.1),
                           asymmetric_epsilons=[[0, 0], [0.1, 0.02]], seeds=[0])  # fmt: skip
    cells = [(r.strategy, r.epsilon, r.epsilon_pos, r.epsilon_neg) for r in cfg.expand()]
    assert cells == [("binary", 0.0, None, None), ("binary", 0.1, None, None),
                     ("asymmetric", 0.0, 0.0, 0.0), ("asymmetric", 0.0, 0.1, 0.02)]  # fmt: skip


def test_key_is_stable_and_covers_every_result_affecting_field():
    a = ExperimentConfig(seeds=[0]).expand()[0]
    assert a.key == ExperimentConfig(seeds=[0]).expand()[0].key
    assert a.key != ExperimentConfig(seeds=[0], train={"lr": 2e-3}).expand()[0].key
    assert a.key != ExperimentConfig(seeds=[0], noise=["missing:0.1"]).expand()[0].key
    assert a.key != ExperimentConfig(seeds=[1]).expand()[0].key
    # data_dir is where the data lives, not what it is: same key
    assert a.key == ExperimentConfig(seeds=[0], data_dir="/elsewhere").expand()[0].key


def test_noise_is_stored_canonically():
    cfg = ExperimentConfig(noise=["Missing:p=0.2", "clean"])
    assert cfg.noise == ("missing:0.2", "none")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"strategies": ["binary", "nope"]}, "strategies[1]"),
        ({"epsilons": [0, 1.5]}, "epsilons[1]"),
        ({"epsilons": []}, "epsilons must not be empty"),
        ({"seeds": [0, -1]}, "seeds[1]"),
        ({"seeds": "0,1"}, "seeds must be a list"),
        ({"noise": ["missing:2"]}, "noise[0]"),
        ({"asymmetric_epsilons": [[0.6, 0.6]]}, "asymmetric_epsilons[0]"),
        ({"asymmetric_epsilons": [[0.1]]}, "asymmetric_epsilons[0]"),
        ({"train": {"lr": -1}}, "train.lr"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size"),
        ({"train": {"hidden": [256, 0]}}, "train.hidden[1]"),
        ({"train": {"model": "rnn"}}, "train.model"),
        ({"train": {"clean_validation": "yes"}}, "train.clean_validation"),
        ({"train": {"empty_rows": "drop"}}, "train.empty_rows"),
        ({"eval": {"n_bins": 0}}, "eval.n_bins"),
        ({"train": {"lrr": 1e-3}}, "did you mean train.'lr'"),
        ({"epsilon": [0.1]}, "did you mean 'epsilons'"),
        ({"train": 3}, "train must be a table"),
    ],
)
def test_bad_values_name_the_field(data, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        config_from_dict(data)


def test_toml_and_json_files(tmp_path):
    toml = tmp_path / "grid.toml"
    toml.write_text('name = "t"\nstrategies = ["uniform"]\nepsilons = [0, 0.1]\nseeds = [3]\n'
                    '[train]\nlr = 0.002\nhidden = [32, 32]\n')  # fmt: skip
    cfg = load_config(toml)
    assert cfg.strategies == ("uniform",) and cfg.seeds == (3,)
    assert cfg.train == TrainConfig(lr=0.002, hidden=(32, 32))
    js = tmp_path / "grid.json"
    js.write_text(json.dumps(cfg.to_dict()))
    assert load_config(js) == cfg


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epsilons = [0, \n")
    with pytest.raises(ConfigError, match="is not valid"):
        load_config(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[train]\npatiense = 3\n")
    with pytest.raises(ConfigError, match=r"typo\.toml: unknown field train\.'patiense'"):
        load_config(typo)
    other = tmp_path / "grid.yaml"
    other.write_text("a: 1")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        load_config(other)
