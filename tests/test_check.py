"""The `check` stage: every params group checked before any stage can remove an output (dvc.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from stages.check import command as check_stage
from unimse_core.config import GROUPS, check_params, read_params

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_group_is_checked_and_loads():
    params = read_params(ROOT / "params.yaml")
    assert set(params) == set(GROUPS)
    assert {g: type(c) for g, c in check_params(params).items()} == GROUPS


def test_a_typo_in_any_group_fails_naming_the_key_and_writes_nothing(tmp_path):
    params = read_params(ROOT / "params.yaml")
    out = tmp_path / "checked.json"
    for group, key, message in (("train", "lr_t5x", "train.lr_t5x: unknown key"),
                                ("evaluate", "max_new_tokens", "evaluate.max_new_tokens: must be an integer"),
                                ("trian", None, "trian: unknown group in params.yaml")):
        bad = json.loads(json.dumps(params))
        if key is None:
            bad[group] = {}
        elif key in bad[group]:
            bad[group][key] = "many"
        else:
            bad[group][key] = 0.01
        path = tmp_path / "params.yaml"
        path.write_text(yaml.safe_dump(bad, sort_keys=False))
        result = CliRunner().invoke(check_stage, ["--out", str(out), "--params", str(path)])
        assert result.exit_code == 1, result.output
        assert message in result.output and "no output was removed" in result.output
        assert not out.exists()


def test_the_record_is_the_same_for_any_valid_params(tmp_path):
    """Changing a value must rerun `check` but nothing downstream: its output must not change."""
    params = read_params(ROOT / "params.yaml")
    outputs = []
    for lr in (0.001, 0.002):
        params["train"]["lr_t5"] = lr
        path = tmp_path / f"params{lr}.yaml"
        path.write_text(yaml.safe_dump(params, sort_keys=False))
        out = tmp_path / f"checked{lr}.json"
        result = CliRunner().invoke(check_stage, ["--out", str(out), "--params", str(path)])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["checked"] == list(GROUPS)


def test_every_stage_runs_after_check():
    """In dvc.yaml every stage depends, directly or through other stages' outputs, on check's output."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def paths(entries) -> list[str]:
        return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]

    producer = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for out in paths(body.get("outs")) + paths(body.get("metrics")):
            producer[out.replace("${item}", "*")] = name

    def upstream(name: str, seen: set[str]) -> set[str]:
        body = stages[name].get("do", stages[name])
        for dep in paths(body.get("deps")):
            dep = dep.replace("${item}", "*")
            for out, stage in producer.items():
                if stage not in seen and (dep == out or dep.startswith(out.rstrip("/") + "/")
                                          or out.startswith(dep.rstrip("/") + "/")):
                    seen.add(stage)
                    upstream(stage, seen)
        return seen

    assert stages["check"]["params"] == [{"params.yaml": None}]  # reruns on any change of any group
    for name in stages:
        if name != "check":
            assert "check" in upstream(name, set()), f"stage {name} may run before check"


def test_model_feature_dim_must_equal_features_dim_when_the_configs_load(tmp_path):
    import click
    import pytest

    from stages.common import load_groups
    from unimse_core.config import FeaturesConfig, ModelConfig

    bad = read_params(ROOT / "params.yaml")
    bad["model"]["feature_dim"] = bad["features"]["dim"] // 2
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    expected = f"model.feature_dim: must equal features.dim ({bad['features']['dim']}), got {bad['model']['feature_dim']}"
    result = CliRunner().invoke(check_stage, ["--out", str(tmp_path / "checked.json"), "--params", str(path)])
    assert result.exit_code == 1 and expected in result.output, result.output
    assert not (tmp_path / "checked.json").exists()
    with pytest.raises(click.ClickException) as err:  # any stage that loads both groups
        load_groups(path, model=ModelConfig, features=FeaturesConfig)
    assert err.value.message == expected
    load_groups(path, model=ModelConfig)  # one group alone has nothing to agree with
    bad["features"]["dim"] = bad["model"]["feature_dim"]  # both changed together: fine
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    assert check_params(path)["features"].dim == bad["model"]["feature_dim"]
