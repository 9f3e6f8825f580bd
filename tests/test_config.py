"""Typed configs: every params.yaml group loads, and each kind of bad value fails naming the key."""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from typing import Literal

import pytest
import yaml

from unimse_core.config import (ConfigError, DataConfig, FetchConfig, LoaderConfig, SyntheticConfig, TextConfig,
                                from_dict, load_config, param, read_params)

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {"data": DataConfig, "synthetic": SyntheticConfig, "fetch": FetchConfig, "text": TextConfig,
          "loader": LoaderConfig}


@dataclass(frozen=True)
class Train:
    lr: float = param(gt=0)
    epochs: int = param(ge=1)
    amp: bool = param()
    select_on: Literal["loss", "f1"] = param()
    blocks: tuple[int, ...] = param(unique=True)
    dropout: float = 0.1


GOOD = {"lr": 3e-4, "epochs": 2, "amp": False, "select_on": "f1", "blocks": [10, 11]}


def load(**changes):
    values = {**GOOD, **changes}
    return from_dict(Train, {k: v for k, v in values.items() if v is not ...}, "train")


def test_every_group_of_the_shipped_params_loads():
    params = read_params(ROOT / "params.yaml")
    for group, cls in GROUPS.items():
        assert isinstance(load_config(cls, group, params), cls)


def test_values_are_converted_and_frozen():
    cfg = load(lr=1)  # an int where a float is expected is fine
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.blocks == (10, 11) and cfg.dropout == 0.1
    with pytest.raises(FrozenInstanceError):
        cfg.lr = 2.0


@pytest.mark.parametrize(("changes", "message"), [
    ({"lr": -1}, "train.lr: must be > 0, got -1"),
    ({"lr": "fast"}, "train.lr: must be a number, got 'fast'"),
    ({"epochs": 0}, "train.epochs: must be >= 1, got 0"),
    ({"epochs": 2.5}, "train.epochs: must be an integer, got 2.5"),
    ({"epochs": True}, "train.epochs: must be an integer, got True"),
    ({"amp": "False"}, "train.amp: must be true or false, got 'False'"),
    ({"select_on": "acc"}, "train.select_on: must be one of 'loss', 'f1', got 'acc'"),
    ({"blocks": [1, 1]}, "train.blocks: items must be unique, got [1, 1]"),
    ({"blocks": ["a"]}, "train.blocks[0]: must be an integer, got 'a'"),
    ({"lr": ...}, "train.lr: missing key"),
    ({"lrr": 1}, "train.lrr: unknown key"),
])
def test_bad_values_fail_naming_the_key(changes, message):
    with pytest.raises(ConfigError) as err:
        load(**changes)
    assert str(err.value).startswith(message)


def test_nested_groups_name_the_full_key(tmp_path):
    params = read_params(ROOT / "params.yaml")
    bad = copy.deepcopy(params)
    bad["synthetic"]["meld"]["train"] = -5
    with pytest.raises(ConfigError, match=r"^synthetic\.meld\.train: must be >= 1, got -5$"):
        load_config(SyntheticConfig, "synthetic", bad)
    bad = copy.deepcopy(params)
    bad["data"]["datasets"] = ["mosi", "imdb"]
    with pytest.raises(ConfigError, match=r"^data\.datasets\[1\]: must be one of"):
        load_config(DataConfig, "data", bad)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"fetch": {"retries": 1}}))
    with pytest.raises(ConfigError, match=r"^data: missing group"):
        load_config(DataConfig, "data", path)
    with pytest.raises(ConfigError, match=r"^fetch\.timeout_s: missing key"):
        load_config(FetchConfig, "fetch", path)


def test_unreadable_params_file(tmp_path):
    with pytest.raises(ConfigError, match="params file not found"):
        read_params(tmp_path / "nope.yaml")
    (tmp_path / "p.yaml").write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_params(tmp_path / "p.yaml")
