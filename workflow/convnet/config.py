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
