"""Experiments named in the config: each is ``experiment_defaults`` with its own changes on top."""

from __future__ import annotations

import copy
import hashlib
import json

from .errors import ConfigError


def _merge(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (changes or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def experiment_names(config: dict) -> list[str]:
    return list(config["experiments"])


def experiment_settings(config: dict, name: str) -> dict:
    """The full settings of one experiment; an unknown name is a clear error."""
    if name not in config["experiments"]:
        known = ", ".join(config["experiments"])
        raise ConfigError(f"unknown experiment {name!r}: the config's experiments are {known}")
    settings = _merge(config["experiment_defaults"], config["experiments"][name] or {})
    if settings.get("augmentation") == {}:
        settings["augmentation"] = None
    return settings


def fingerprint(settings: dict, *extra: str) -> str:
    """A short hash of what determines a training run, to tell a stale checkpoint from a good one."""
    text = json.dumps(settings, sort_keys=True) + "|".join(extra)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_size_key(settings: dict) -> str:
    """``150x150``: names the decoded-image cache shared by experiments with the same size."""
    height, width = settings["image_size"]
    return f"{height}x{width}"
