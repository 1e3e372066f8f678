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
            raise ConfigError(f"data.path {path!r} does not exist: fix the path (relative to the working directory)")
    classes = data["classes"]
    if len({folder.lower() for folder in classes}) != len(classes) or len(set(classes.values())) != len(classes):
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


def _types(schema: dict) -> list[str]:
    kind = schema.get("type", [])
    kinds = [kind] if isinstance(kind, str) else list(kind)
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        kinds += _types(option)
    if "enum" in schema and None in schema["enum"]:
        kinds.append("null")
    return kinds


def coerce_cli_strings(value, schema: dict):
    """Walk ``value`` along ``schema``, turning strings into the integers, numbers, booleans and
    nulls the schema expects. Anything else is left for validation to report."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else {})
            value[key] = coerce_cli_strings(item, sub)
        return value
    if isinstance(value, list):
        items = schema.get("items", {})
        return [coerce_cli_strings(item, items) for item in value]
    if isinstance(value, str):
        types = _types(schema)
        if set(types) - {"string"}:
            return _coerce_scalar(value, types)
    return value
