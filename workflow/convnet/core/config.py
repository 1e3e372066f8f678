"""Checks of the config that JSON Schema cannot express, with messages that name the key and fix."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError

# The data splits, in the order the book makes them (data.split names their sizes).
SPLITS = ("train", "validation", "test")
FIX = "fix it in your --config/--configfile or config/config.yaml"


def _key(path) -> str:
    return ".".join(str(part) for part in path) or "the config"


def _expected(schema: dict) -> str:
    """What a schema node accepts, in words: 'an integer, at least 1', 'one of url, kaggle'."""
    words = {
        "integer": "an integer",
        "number": "a number",
        "string": "text",
        "boolean": "true or false",
        "array": "a list",
        "object": "a mapping",
        "null": "null",
    }
    parts = []
    kinds = schema.get("type")
    if kinds:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        parts.append(" or ".join(words.get(kind, kind) for kind in kinds))
    if "enum" in schema:
        parts.append("one of " + ", ".join("null" if v is None else str(v) for v in schema["enum"]))
    for bound, text in (
        ("minimum", "at least"),
        ("exclusiveMinimum", "more than"),
        ("maximum", "at most"),
        ("exclusiveMaximum", "less than"),
    ):
        if bound in schema:
            parts.append(f"{text} {schema[bound]}")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    return ", ".join(parts) or "valid"


def schema_error(config: dict, schema: dict) -> str | None:
    """The config's first schema violation as one line naming the key and the fix, or None.

    jsonschema's own messages print whole sub-schemas ('is not valid under any of the given
    schemas', or the ~200-line schema for an unknown top-level key)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    key, value = _key(error.absolute_path), json.dumps(error.instance, default=str)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"in {key}" if error.absolute_path else "at the top level"
        return (
            f"unknown key {', '.join(map(repr, unknown))} {where} (allowed: {', '.join(allowed)}): "
            "fix the spelling or remove it"
        )
    if error.validator == "required":
        return f"{key}: {error.message}: add it ({FIX})"
    if error.validator in ("propertyNames",):
        return f"{key}: {error.message}: {FIX}"
    if error.validator in ("minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties"):
        return f"{key} is {value}: {error.message.split(' is ', 1)[-1]}; {FIX}"
    if len(value) > 80:
        value = value[:77] + "..."
    return f"{key} is {value} but must be {_expected(error.schema)}; {FIX}"


# The optional families of experiments, once switched on with ``<family>.enabled``, are overlay
# configs (config/<family>.yaml) given with --configfile.
FAMILY_OVERLAYS = ("pretrained", "course", "beyond")


def retired_family_key(config: dict) -> str | None:
    """A config that still switches a family on with ``enabled`` (or lists its experiments under
    the family's key), as one line naming the overlay that replaced it; None otherwise."""
    for family in FAMILY_OVERLAYS:
        section = config.get(family)
        if (
            family != "pretrained"
            and family in config
            or (isinstance(section, dict) and {"enabled", "experiments"} & set(section))
        ):
            return (
                f"{family}.enabled and {family}.experiments are gone: the {family} experiments are an overlay "
                f"now, add --configfile config/{family}.yaml (experiments of your own go under experiments)"
            )
    return None


def check_config(config: dict, schema: dict) -> None:
    message = retired_family_key(config) or schema_error(config, schema)
    if message:
        raise ConfigError(message)


def check_data_config(data: dict) -> None:
    source = data["source"]
    if source == "url" and not data.get("url"):
        raise ConfigError("data.source is 'url' but data.url is not set: give the archive's URL")
    if source == "local":
        path = data.get("path")
        if not path:
            raise ConfigError(
                "data.source is 'local' but data.path is not set: give the archive or folder on disk"
            )
        if not Path(path).exists():
            raise ConfigError(
                f"data.path {path!r} does not exist: fix the path (relative to the working directory)"
            )
    classes = data["classes"]
    if isinstance(classes, str) and classes != "auto":
        raise ConfigError(
            f"data.classes is {classes!r}: give auto (the class folders found), a list of class names "
            "or a mapping {output folder: name in the source}"
        )
    if not isinstance(classes, str):
        raw = list(classes.values()) if isinstance(classes, dict) else list(classes)
        if len({str(folder).lower() for folder in classes}) != len(classes) or len(
            {str(name).lower() for name in raw}
        ) != len(raw):
            raise ConfigError(f"data.classes {classes} names a class twice: give each class its own name")
    check_split(data["split"])


def check_split(split: dict) -> None:
    """``data.split``: image counts per class (whole numbers) or fractions of each class (below 1,
    adding up to at most 1), not a mix."""
    values = {name: split[name] for name in SPLITS}
    fractions = [name for name, value in values.items() if float(value) < 1]
    if fractions and len(fractions) < len(SPLITS):
        raise ConfigError(
            f"data.split {values} mixes counts and fractions: give all three as image counts per class "
            "(e.g. 1000, 500, 500) or all as fractions of each class (e.g. 0.7, 0.15, 0.15)"
        )
    if not fractions:
        odd = [name for name, value in values.items() if float(value) != int(float(value))]
        if odd:
            raise ConfigError(
                f"data.split.{odd[0]} is {values[odd[0]]}: image counts are whole numbers; fractions are below 1"
            )
    elif sum(float(v) for v in values.values()) > 1 + 1e-9:
        raise ConfigError(
            f"data.split's fractions {values} add up to {sum(float(v) for v in values.values()):g}, more "
            "than 1: lower them (what is left over is not used, and listed in dropped.tsv)"
        )


# Config keys whose value a user's --configfile or --config replaces instead of merging into the
# default: Snakemake deep-merges mappings, so a mapping of classes given there would otherwise keep
# the book's cats and dogs beside the user's classes.
REPLACED_KEYS = (("data", "classes"),)


def replace_user_keys(config: dict, layers: list[dict]) -> None:
    """Give each REPLACED_KEYS key the value of the last of ``layers`` (the user's config files in
    order, then --config) that sets it, as given, instead of Snakemake's merge with the default."""
    for path in REPLACED_KEYS:
        for layer in layers:
            node = layer
            for part in path:
                node = node.get(part) if isinstance(node, Mapping) else None
            if node is None:
                continue
            target = config
            for part in path[:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = _plain(node)


def _plain(value):
    """A copy made of dicts and lists (Snakemake hands --config over in immutable mappings)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return copy.deepcopy(value)


def _coerce_scalar(value: str, types: list[str]):
    """Snakemake's ``--config key={a: 1}`` hands nested values over as strings: read them back as
    the type the schema asks for, so the same overrides work from the command line and a file."""
    lowered = value.strip().lower()
    if "null" in types and lowered in ("null", "none", "~", ""):
        return None
    if "boolean" in types and lowered in ("true", "false"):
        return lowered == "true"
    if "integer" in types:
        try:
            return int(value)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _resolve(schema: dict, root: dict) -> dict:
    """Follow a local ``$ref`` (``#/$defs/name``)."""
    while "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _options(schema: dict, root: dict) -> list[dict]:
    schema = _resolve(schema, root)
    options = [schema]
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        options += _options(option, root)
    return options


def _types(options: list[dict]) -> list[str]:
    kinds: list[str] = []
    for option in options:
        kind = option.get("type", [])
        kinds += [kind] if isinstance(kind, str) else list(kind)
        if None in option.get("enum", []):
            kinds.append("null")
    return kinds


def coerce_cli_strings(value, schema: dict, root: dict | None = None):
    """Walk ``value`` along ``schema``, turning strings into the integers, numbers, booleans and
    nulls the schema expects. Anything else is left for validation to report."""
    root = schema if root is None else root
    options = _options(schema, root)
    if isinstance(value, dict):
        objects = [o for o in options if "properties" in o or "additionalProperties" in o] or [{}]
        properties = objects[0].get("properties", {})
        extra = objects[0].get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            value[key] = coerce_cli_strings(item, sub, root)
        return value
    if isinstance(value, list):
        items = next((o["items"] for o in options if "items" in o), {})
        return [coerce_cli_strings(item, items, root) for item in value]
    if isinstance(value, str):
        types = _types(options)
        if set(types) - {"string"}:
            return _coerce_scalar(value, types)
    return value


def check_predict(predict: dict) -> None:
    """Every folder or archive named under ``predict`` must exist."""
    for name, path in predict.items():
        if not Path(path).exists():
            raise ConfigError(
                f"predict.{name} {path!r} does not exist: give a folder or zip/tar archive of photos "
                "(relative to the working directory)"
            )


def check_pinned_archive(data: dict, provenance: Path) -> None:
    """A pinned ``data.sha256`` against the archive the current results were split from.

    The hash is not a rule parameter, so pinning the hash you already have reruns nothing; the
    split records the archive's hash in provenance.json, and a pin that disagrees with it, for the
    same source, stops here. Another source reruns the download or split, which verify the pin."""
    pinned = data.get("sha256")
    if not pinned or not Path(provenance).is_file():
        return
    try:
        recorded = json.loads(Path(provenance).read_text())
    except (OSError, ValueError):
        return  # a damaged provenance file: the split that rewrites it verifies the pin
    same_source = recorded.get("source") == data["source"] and (
        (data["source"] == "url" and recorded.get("url") == data.get("url"))
        or (data["source"] == "local" and recorded.get("path") == str(Path(data.get("path") or "")))
        or (
            data["source"] == "kaggle"
            and recorded.get("kaggle_competition") == data.get("kaggle_competition")
        )
    )
    if same_source and recorded.get("sha256") and recorded["sha256"] != pinned.lower():
        raise ConfigError(
            f"data.sha256 pins {pinned}, but the archive the results in {Path(provenance).parent} were "
            f"split from has sha256 {recorded['sha256']} ({provenance}): fix data.sha256, or, to use "
            "another archive, replace it and add --forcerun split_data"
        )
