from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import ROOT

from convnet.core.config import check_data_config, coerce_cli_strings
from convnet.core.errors import ConfigError

SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_is_valid():
    jsonschema.validate(default_config(), SCHEMA)


def test_command_line_strings_are_read_back_as_the_schema_types():
    config = default_config()
    config["data"].update(
        {"split": {"train": "4", "validation": "2", "test": "2"}, "require_jfif": "false", "sha256": "null"}
    )
    config["data"]["download"]["timeout_s"] = "2.5"
    coerce_cli_strings(config, SCHEMA)
    assert config["data"]["split"] == {"train": 4, "validation": 2, "test": 2}
    assert config["data"]["require_jfif"] is False
    assert config["data"]["sha256"] is None
    assert config["data"]["download"]["timeout_s"] == 2.5
    assert config["data"]["classes"] == {"cats": "cat", "dogs": "dog"}  # strings stay strings
    jsonschema.validate(config, SCHEMA)


def test_uncoercible_value_is_left_for_the_schema_to_reject():
    config = default_config()
    config["data"]["split"]["train"] = "many"
    coerce_cli_strings(config, SCHEMA)
    with pytest.raises(jsonschema.ValidationError, match="many"):
        jsonschema.validate(config, SCHEMA)


def test_data_checks(tmp_path: Path):
    data = default_config()["data"]
    check_data_config(data)
    with pytest.raises(ConfigError, match="data.path is not set"):
        check_data_config(dict(data, source="local"))
    with pytest.raises(ConfigError, match="names a class twice"):
        check_data_config(dict(data, classes={"cats": "cat", "kittens": "cat"}))
    (tmp_path / "d").mkdir()
    check_data_config(dict(data, source="local", path=str(tmp_path / "d")))


def test_seeds_give_one_run_each_and_a_run_carries_only_its_own_seed():
    from convnet.core.experiments import experiment_seeds, run_settings, runs

    config = default_config()
    config["experiment_defaults"]["seeds"] = ["2", "1"]  # as --config hands them over
    config["experiments"]["augmented"]["seeds"] = [5]
    coerce_cli_strings(config, SCHEMA)
    jsonschema.validate(config, SCHEMA)
    assert runs(config) == [("baseline", 2), ("baseline", 1), ("augmented", 5)]
    assert experiment_seeds(config, "augmented") == [5]
    settings = run_settings(config, "baseline", 1)
    assert settings["seed"] == 1 and "seeds" not in settings
    # the run's settings (and so its checkpoint fingerprint) do not change when a seed is added
    config["experiment_defaults"]["seeds"] = [2, 1, 3]
    assert run_settings(config, "baseline", 1) == settings
    with pytest.raises(ConfigError, match=r"seed 4 is not in experiments.baseline.seeds \[2, 1, 3\]"):
        run_settings(config, "baseline", 4)


@pytest.mark.parametrize("seeds", [[], [1, 1], [-1], 3])
def test_bad_seeds_are_refused_by_the_schema(seeds):
    config = default_config()
    config["experiment_defaults"]["seeds"] = seeds
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, SCHEMA)
