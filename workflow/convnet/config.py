"""Checks of the config that JSON Schema cannot express, with messages that name the key and fix."""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


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
    if len({folder.lower() for folder in classes}) != len(classes) or len(set(classes.values())) != len(
        classes
    ):
        raise ConfigError(f"data.classes {classes} names a class twice: give each class its own name")


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
