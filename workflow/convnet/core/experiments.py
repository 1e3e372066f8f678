"""Experiments named in the config: each is ``experiment_defaults`` with its own changes on top."""

from __future__ import annotations

import copy
import hashlib
import json

from dataclasses import fields

from .config import FAMILY_OVERLAYS
from .errors import ConfigError
from .settings import AUGMENTATION_DEFAULTS, NOT_FROM_CONFIG, ModelSettings, check_shear


def deep_merge(base: dict, changes: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (changes or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def with_augmentation_defaults(spec: dict | None) -> dict | None:
    """The augmentation settings with method, interpolation and fill mode filled in; None (or an
    empty mapping) means no augmentation."""
    if not spec:
        return None
    return {**AUGMENTATION_DEFAULTS, **spec}


# Where the optional families' experiments are defined, for a hint when one is named but not given.
_OVERLAYS = [f"{family}.yaml" for family in FAMILY_OVERLAYS]
OVERLAY_HINT = (
    f"(config/{', '.join(_OVERLAYS[:-1])} and {_OVERLAYS[-1]} add the optional families' experiments "
    "with --configfile)"
)


def experiment_names(config: dict) -> list[str]:
    return list(config["experiments"])


def experiment_settings(config: dict, name: str) -> dict:
    """The full settings of one experiment; an unknown name is a clear error."""
    experiments = config["experiments"]
    if name not in experiments:
        known = ", ".join(experiments)
        raise ConfigError(f"unknown experiment {name!r}: the config's experiments are {known}")
    defaults = config["experiment_defaults"]
    settings = deep_merge(defaults, _changes(experiments, name))
    # null for a setting the defaults leave out (a variant's ``mix: null``) is leaving it out: the
    # same run, fingerprint and run card as an experiment that never set it
    settings = {k: v for k, v in settings.items() if v is not None or k in defaults}
    augmentation = with_augmentation_defaults(settings.get("augmentation"))
    if augmentation:
        check_shear(augmentation, f"experiments.{name}.augmentation")
    settings["augmentation"] = augmentation
    return _sorted(settings)


def _changes(experiments: dict, name: str, chain: tuple[str, ...] = ()) -> dict:
    """What ``name`` changes from experiment_defaults: its own keys over those of the experiment
    it is ``based_on`` (and so on), so that a variant (an ablation) names only what differs."""
    own = dict(experiments[name] or {})
    base = own.pop("based_on", None)
    if base is None:
        return own
    if base not in experiments:
        raise ConfigError(
            f"experiments.{name}.based_on is {base!r}, which is not an experiment {OVERLAY_HINT}"
        )
    if base == name or base in chain:
        raise ConfigError(
            f"experiments.{name}.based_on {base!r} goes round in a circle: "
            f"{' -> '.join((*chain, name, base))}"
        )
    return deep_merge(_changes(experiments, base, (*chain, name)), own)


def _sorted(value):
    """Mappings with their keys in sorted order, all the way down. Snakemake compares a rule's
    params as serialised, so a key that a --config override re-inserts would otherwise move and
    rerun jobs whose settings did not change."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    return value


def experiment_seeds(config: dict, name: str) -> list[int]:
    """The seeds ``name`` is trained with: one run, and one job, per seed."""
    return [int(seed) for seed in experiment_settings(config, name)["seeds"]]


# Experiment settings that only the test-set evaluation reads: changing one reruns no training.
EVALUATION_KEYS = ("test_time_augmentation",)
# Experiment keys that are not settings of a run (convnet.core.settings.RunSettings): the list of runs,
# the experiment a variant starts from (merged away by experiment_settings) and the evaluation's.
NOT_RUN_SETTINGS = ("seeds", "based_on", *EVALUATION_KEYS)


def model_settings(config: dict, name: str) -> dict:
    """The experiment's settings without its list of seeds and its evaluation settings: what every
    run of it shares, so adding a seed (or test-time augmentation) changes nothing that the
    existing runs (or the model check they wait for) depend on."""
    settings = experiment_settings(config, name)
    for key in NOT_RUN_SETTINGS:
        settings.pop(key, None)
    return settings


def evaluation_settings(config: dict, name: str) -> dict:
    """What the evaluation of ``name``'s runs reads (``EVALUATION_KEYS``; absent: off)."""
    settings = experiment_settings(config, name)
    return {key: settings.get(key) or False for key in EVALUATION_KEYS}


# What shapes an experiment's model (and the model-summary check), as opposed to how it trains:
# the fields of convnet.core.settings.ModelSettings that the config sets (not the run's seed, nor the
# number of classes, which comes from the data).
ARCHITECTURE_KEYS = tuple(f.name for f in fields(ModelSettings) if f.name not in NOT_FROM_CONFIG)


def check_experiments(config: dict) -> None:
    """What the schema cannot say about experiments: a pretrained base needs its weights named in
    pretrained.weights, and init_from an experiment that trains every seed of this one."""
    names = experiment_names(config)
    weights = (config.get("pretrained") or {}).get("weights") or {}
    for name in names:
        settings = experiment_settings(config, name)
        warmup = settings.get("warmup_epochs") or 0
        if settings.get("learning_rate_schedule") == "cosine" and warmup >= settings["epochs"]:
            raise ConfigError(
                f"experiments.{name}.warmup_epochs {warmup} leaves none of its {settings['epochs']} epochs "
                "for the cosine decay: lower warmup_epochs or raise epochs"
            )
        base = settings.get("base")
        if base and base["name"] not in weights:
            raise ConfigError(
                f"experiments.{name}.base is {base['name']} but pretrained.weights has no {base['name']}: "
                "add its url (and md5) there"
            )
        start = settings.get("init_from")
        if start is None:
            continue
        if start not in names:
            raise ConfigError(
                f"experiments.{name}.init_from is {start!r}, which is not an experiment {OVERLAY_HINT}"
            )
        missing = sorted(set(experiment_seeds(config, name)) - set(experiment_seeds(config, start)))
        if missing:
            raise ConfigError(
                f"experiments.{name}.init_from {start!r} has no run for seed(s) {missing}: give {start} "
                "the same seeds"
            )
        if start == name or experiment_settings(config, start).get("init_from") == name:
            raise ConfigError(
                f"experiments.{name}.init_from {start!r} starts a loop: each must start from an earlier one"
            )


def architecture_settings(config: dict, name: str) -> dict:
    """The settings ``model_summary`` builds and checks the model from: changing the learning rate
    or the number of epochs does not rerun the check."""
    settings = experiment_settings(config, name)
    # a key the config leaves out (the residual family's) takes the dataclass's default
    return {key: settings[key] for key in ARCHITECTURE_KEYS if key in settings}


def run_settings(config: dict, name: str, seed: int) -> dict:
    """The settings of one run: what the experiment's runs share, plus the run's own ``seed``."""
    seeds = experiment_seeds(config, name)
    if int(seed) not in seeds:
        raise ConfigError(f"seed {seed} is not in experiments.{name}.seeds {seeds}: add it there")
    return _sorted({**model_settings(config, name), "seed": int(seed)})


def runs(config: dict) -> list[tuple[str, int]]:
    """Every (experiment, seed) pair the config asks for, in config order."""
    return [(name, seed) for name in experiment_names(config) for seed in experiment_seeds(config, name)]


def fingerprint(settings: dict, *extra: str) -> str:
    """A short hash of what determines a training run, to tell a stale checkpoint from a good one."""
    text = json.dumps(settings, sort_keys=True) + "|".join(extra)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_size_key(settings: dict) -> str:
    """``150x150``: the height and width images are resized to."""
    height, width = settings["image_size"]
    return f"{height}x{width}"


def cache_key(settings: dict) -> str:
    """``150x150-nearest``: names the decoded-image cache that experiments with the same image size
    and resize interpolation share."""
    return f"{image_size_key(settings)}-{settings['resize_interpolation']}"
