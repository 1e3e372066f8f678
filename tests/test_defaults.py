"""Each default in one place. config/config.yaml holds every default a user sees; the schema checks
types and ranges and makes those keys required (a key missing from a config is an error, never a
second default); convnet.core.settings.ABSENT_SETTINGS says what the settings config/config.yaml leaves
out on purpose mean; the model builders take no defaults of their own. Each test names the place
that disagrees."""

from __future__ import annotations

import inspect
import re
from dataclasses import MISSING, fields

import pytest
import yaml
from conftest import ROOT

from convnet.learn import model
from convnet.core.settings import ABSENT_SETTINGS, ModelSettings, RunSettings

CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())


def schema_defaults(node, where="config/config.schema.yaml") -> list[str]:
    """Every place in the schema that states a ``default``."""
    found = []
    if isinstance(node, dict):
        if "default" in node:
            found.append(where)
        for key, value in node.items():
            found += schema_defaults(value, f"{where}: {key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += schema_defaults(value, f"{where}[{index}]")
    return found


def test_the_schema_states_no_default():
    assert not schema_defaults(SCHEMA), "a default belongs in config/config.yaml only"


@pytest.mark.parametrize(
    "path, schema",
    [
        ((), SCHEMA),
        (("data",), SCHEMA["properties"]["data"]),
        (("data", "download"), SCHEMA["properties"]["data"]["properties"]["download"]),
        (("compute",), SCHEMA["properties"]["compute"]),
        (("experiment_defaults",), SCHEMA["properties"]["experiment_defaults"]),
    ],
)
def test_every_key_config_yaml_sets_is_required_by_the_schema(path, schema):
    section = CONFIG
    for key in path:
        section = section[key]
    where = ".".join(path) or "the top level"
    assert sorted(schema.get("required", [])) == sorted(section), (
        f"config/config.schema.yaml, {where}: `required` must list exactly the keys config/config.yaml "
        "sets there, so that a config without one fails naming it instead of falling back on a default"
    )


SETTINGS_FIELDS = {f.name for cls in (ModelSettings, RunSettings) for f in fields(cls)}


def test_each_setting_has_its_default_in_config_yaml_or_in_absent_settings_never_both():
    defaults = CONFIG["experiment_defaults"]
    both = sorted(set(defaults) & set(ABSENT_SETTINGS))
    assert not both, (
        f"{both}: in config/config.yaml's experiment_defaults and in convnet.core.settings.ABSENT_SETTINGS"
    )
    neither = sorted(SETTINGS_FIELDS - set(defaults) - set(ABSENT_SETTINGS))
    assert not neither, (
        f"convnet.core.settings: {neither} have a default neither in config/config.yaml nor ABSENT_SETTINGS"
    )
    stale = sorted(set(ABSENT_SETTINGS) - SETTINGS_FIELDS)
    assert not stale, f"convnet.core.settings.ABSENT_SETTINGS names {stale}, which are no settings"


def test_the_settings_dataclasses_hold_no_default_of_their_own():
    own = [
        f"convnet.core.settings.{cls.__name__}.{f.name}"
        for cls in (ModelSettings, RunSettings)
        for f in fields(cls)
        if f.default is not MISSING or f.default_factory is not MISSING
    ]
    assert not own, f"{own}: take the default from config/config.yaml or ABSENT_SETTINGS"


@pytest.mark.parametrize(
    "builder", [model.make_model, model.make_residual_model, model.make_pretrained_model]
)
def test_the_model_builders_take_no_defaults(builder):
    with_default = [
        name for name, p in inspect.signature(builder).parameters.items() if p.default is not p.empty
    ]
    assert not with_default, (
        f"convnet.learn.model.{builder.__name__}: {with_default} have defaults of their own"
    )


def documented_defaults(section: str) -> dict[str, str]:
    """config/README.md's ``## `section` ...`` table: key -> its default cell."""
    text = (ROOT / "config" / "README.md").read_text()
    body = re.split(rf"\n##+ `{section}`[^\n]*\n", text)[1].split("\n## ")[0]
    rows = {}
    for line in body.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for key in re.findall(r"`([^`]+)`", cells[0]):
                rows[key] = cells[1]
    return rows


def stated(cell: str):
    """The value a default cell states first: ``1.0e-4`` -> 0.0001; None when it states it in
    words (a URL's description, a parameter count)."""
    match = re.match(r"(?:not set: )?`([^`]+)`", cell)
    return yaml.safe_load(match.group(1)) if match else None


@pytest.mark.parametrize("section", ["data", "compute", "experiment_defaults"])
def test_config_readme_states_the_defaults_config_yaml_and_absent_settings_hold(section):
    defaults = CONFIG[section]
    wrong = []
    for key, cell in documented_defaults(section).items():
        if cell.startswith("not set"):
            # a setting left out of config.yaml: its meaning when absent is ABSENT_SETTINGS'
            values = re.findall(r"`([^`]+)`", cell)
            keys = [key] if len(values) == 1 else None
            if keys and key in ABSENT_SETTINGS and yaml.safe_load(values[0]) != ABSENT_SETTINGS[key]:
                wrong.append(f"{key}: README says {cell!r}, ABSENT_SETTINGS {ABSENT_SETTINGS[key]!r}")
            continue
        value = stated(cell)
        leaf = defaults
        for part in key.split("."):
            leaf = leaf.get(part) if isinstance(leaf, dict) else None
        if value is not None and leaf is not None and value != leaf:
            wrong.append(f"{key}: README says {value!r}, config/config.yaml {leaf!r}")
    assert not wrong, "config/README.md disagrees: " + "; ".join(wrong)
