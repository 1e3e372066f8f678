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


def experiment_seeds(config: dict, name: str) -> list[int]:
    """The seeds ``name`` is trained with: one run, and one job, per seed."""
    return [int(seed) for seed in experiment_settings(config, name)["seeds"]]


def model_settings(config: dict, name: str) -> dict:
    """The experiment's settings without its list of seeds: what every run of it shares, so adding
    a seed changes nothing that the existing runs (or the model check they wait for) depend on."""
    settings = experiment_settings(config, name)
    del settings["seeds"]
    return settings


def run_settings(config: dict, name: str, seed: int) -> dict:
    """The settings of one run: what the experiment's runs share, plus the run's own ``seed``."""
    seeds = experiment_seeds(config, name)
    if int(seed) not in seeds:
        raise ConfigError(f"seed {seed} is not in experiments.{name}.seeds {seeds}: add it there")
    return {**model_settings(config, name), "seed": int(seed)}


def runs(config: dict) -> list[tuple[str, int]]:
    """Every (experiment, seed) pair the config asks for, in config order."""
    return [(name, seed) for name in experiment_names(config) for seed in experiment_seeds(config, name)]


def fingerprint(settings: dict, *extra: str) -> str:
    """A short hash of what determines a training run, to tell a stale checkpoint from a good one."""
    text = json.dumps(settings, sort_keys=True) + "|".join(extra)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_size_key(settings: dict) -> str:
    """``150x150``: names the decoded-image cache shared by experiments with the same size."""
    height, width = settings["image_size"]
    return f"{height}x{width}"
