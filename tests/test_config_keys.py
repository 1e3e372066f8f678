"""Each setting is defined once, in config/config.schema.yaml; every other place that must know a key
is checked against it here, so that a key added to the schema and forgotten elsewhere fails a test
that names the place: config/README.md's tables, the settings dataclasses that code reads
(convnet.core.settings), and the fault suite's config-key part (what changing the key reruns)."""

from __future__ import annotations

import re
from dataclasses import fields

import yaml
from conftest import ROOT

import fault_suite
from convnet.core.experiments import NOT_RUN_SETTINGS
from convnet.core.settings import NOT_FROM_CONFIG, Augmentation, RunSettings

SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())
EXPERIMENT = SCHEMA["$defs"]["experiment"]["properties"]
AUGMENTATION = next(o for o in EXPERIMENT["augmentation"]["anyOf"] if o.get("type") == "object")["properties"]
# the top-level keys whose sections in config/README.md list their keys in a table
GROUPS = ("data", "pretrained", "compute")


def schema_keys() -> dict[str, list[str]]:
    """Section of config/README.md -> the keys the schema defines there. A key that holds a mapping
    (data.download) may be documented by its entries (``download.retries``)."""
    keys = {group: list(SCHEMA["properties"][group]["properties"]) for group in GROUPS}
    keys["experiment_defaults"] = list(EXPERIMENT)
    keys["augmentation"] = list(AUGMENTATION)
    return keys


def documented_keys() -> dict[str, set[str]]:
    """Section (the first name in backticks of a ``##``/``###`` heading) -> the names in the first
    column of its tables, up to the next heading."""
    found: dict[str, set[str]] = {}
    section = None
    for line in (ROOT / "config" / "README.md").read_text().splitlines():
        heading = re.match(r"#{2,3} `(\w+)`", line)
        if heading:
            section = heading.group(1)
        elif re.match(r"#{2,3} ", line):
            section = None
        elif section and line.startswith("| `"):
            found.setdefault(section, set()).update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return found


def test_every_schema_key_has_a_row_in_config_readme():
    documented = documented_keys()
    missing = [
        f"config/README.md, section `{section}`: no row for `{key}`"
        for section, keys in schema_keys().items()
        for key in keys
        # weights.vgg16.url documents the mapping `weights` by its one entry
        if not any(name == key or name.startswith(f"{key}.") for name in documented.get(section, ()))
    ]
    assert not missing, "\n".join(missing)


def test_every_documented_key_is_in_the_schema():
    keys = schema_keys()
    unknown = [
        f"config/README.md, section `{section}`: `{name}` is not a key of config/config.schema.yaml"
        for section, names in documented_keys().items()
        if section in keys
        for name in names
        # `augmentation.method` in the experiments' section names a key of the augmentation block
        if not any(name == key or name.startswith(f"{key}.") for key in keys[section] + keys["augmentation"])
        and name.split(".")[0] not in keys[section]
    ]
    assert not unknown, "\n".join(unknown)


def test_every_experiment_key_is_a_setting_that_code_reads():
    run_fields = {f.name for f in fields(RunSettings)} - set(NOT_FROM_CONFIG)
    not_read = sorted(set(EXPERIMENT) - run_fields - set(NOT_RUN_SETTINGS))
    assert not not_read, (
        f"config/config.schema.yaml: {not_read} are experiment keys but neither fields of "
        "convnet.core.settings.RunSettings nor in convnet.core.experiments.NOT_RUN_SETTINGS"
    )
    not_in_schema = sorted(run_fields - set(EXPERIMENT))
    assert not not_in_schema, f"convnet.core.settings.RunSettings: {not_in_schema} have no key in the schema"
    assert not set(NOT_RUN_SETTINGS) & run_fields


def test_every_augmentation_key_is_a_field_of_augmentation():
    # shear_degrees is read into shear_radians (convnet.core.settings.Augmentation.of)
    assert set(AUGMENTATION) - {"shear_degrees"} == {f.name for f in fields(Augmentation)}, (
        "config/config.schema.yaml's augmentation keys and convnet.core.settings.Augmentation's fields differ"
    )


def test_every_key_says_what_changing_it_reruns():
    """Each key has a row in the fault suite's config-key part (EXPECTED_RERUNS), or a reason in
    NOT_IN_KEY_SUITE why that part does not change it."""
    rows = [re.sub(r"\s*\(.*\)$", "", row) for row in fault_suite.EXPECTED_RERUNS]
    keys = [f"{group}.{key}" for group in GROUPS for key in schema_keys()[group]]
    keys += [f"experiment.{key}" for key in EXPERIMENT] + [f"augmentation.{key}" for key in AUGMENTATION]
    # the top-level keys that hold no group of settings (predict, heatmaps, sweeps)
    keys += [
        key for key in SCHEMA["properties"] if key not in (*GROUPS, "experiment_defaults", "experiments")
    ]

    def covered(key: str) -> bool:
        scope, name = key.split(".", 1)
        if scope in ("experiment", "augmentation"):
            tail = name if scope == "experiment" else f"augmentation.{name}"
            return any(row == tail or row.endswith(f".{tail}") for row in rows)
        return any(row == key or row.startswith(f"{key}.") for row in rows)

    def covered_top_level(key: str) -> bool:
        return any(row == key for row in rows)

    missing = [
        key
        for key in keys
        if not (covered(key) if "." in key else covered_top_level(key))
        and key not in fault_suite.NOT_IN_KEY_SUITE
    ]
    assert not missing, (
        f"tests/fault_suite.py: {missing} have no row in EXPECTED_RERUNS (nor a reason in NOT_IN_KEY_SUITE)"
    )
    stale = sorted(set(fault_suite.NOT_IN_KEY_SUITE) - set(keys))
    assert not stale, f"tests/fault_suite.py: NOT_IN_KEY_SUITE names {stale}, which the schema does not have"
