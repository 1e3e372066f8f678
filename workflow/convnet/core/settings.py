"""The settings of one run as typed, frozen objects: what the model, the augmentation, training and
the benchmarks read, by attribute. The config and Snakemake's params stay plain mappings
(``convnet.core.experiments``); code converts them once, at its entry, with ``RunSettings.of``.
Standard library only."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from .errors import ConfigError


@dataclass(frozen=True)
class Augmentation:
    """Random transformations of the training images (config key ``augmentation``)."""

    method: str = "affine"  # affine: one resample, as Keras 2.0.8; layers: Keras 3 layers
    interpolation: str = "nearest"
    horizontal_flip: bool = False
    vertical_flip: bool = False  # each with probability 0.5, as ImageDataGenerator's
    rotation_degrees: float = 0.0
    width_shift: float = 0.0
    height_shift: float = 0.0
    shear_radians: float = 0.0  # the config gives shear_radians or shear_degrees
    zoom: float = 0.0
    # false: height and width zoomed independently (ImageDataGenerator's zoom_range); true: by one
    # factor (Keras's RandomZoom(zoom), as the 2nd and 3rd editions' mini-Xception)
    zoom_keep_aspect: bool = False
    fill_mode: str = "nearest"

    @classmethod
    def of(cls, spec) -> Augmentation | None:
        """From the config's mapping (None or empty: no augmentation), or an Augmentation."""
        if spec is None or isinstance(spec, cls):
            return spec
        if not spec:
            return None
        check_shear(spec)
        spec = dict(spec)
        radians, degrees = spec.pop("shear_radians", None), spec.pop("shear_degrees", None)
        spec["shear_radians"] = float(radians or math.radians(degrees or 0.0))
        return cls(**{key: value for key, value in spec.items() if value is not None})


def check_shear(spec: dict, where: str = "augmentation") -> None:
    """The shear is one angle: a config gives shear_radians or shear_degrees, not both."""
    if spec.get("shear_radians") and spec.get("shear_degrees"):
        raise ConfigError(
            f"{where} sets both shear_radians and shear_degrees: keep one (set the other to null)"
        )


@dataclass(frozen=True)
class Mix:
    """Mixing each training batch with a shuffled copy of itself, images and labels (config key
    ``mix``): CutMix pastes a box of the partner image, mixup blends the two; the label is mixed
    in proportion (the box's share of the image, or the blend's weight)."""

    method: str  # cutmix or mixup
    alpha: float = 1.0  # the mixing proportion is drawn from Beta(alpha, alpha)
    probability: float = 1.0  # the share of batches mixed; the rest train as they are

    @classmethod
    def of(cls, spec) -> Mix | None:
        """From the config's mapping (None: no mixing), or a Mix."""
        if spec is None or isinstance(spec, cls):
            return spec
        return cls(**{key: value for key, value in spec.items() if value is not None})


# What an augmentation block means when it leaves these out: the book's Keras 2.0.8 generator.
AUGMENTATION_DEFAULTS = {
    name: Augmentation.__dataclass_fields__[name].default for name in ("method", "interpolation", "fill_mode")
}


@dataclass(frozen=True)
class Expect:
    """What the model-summary check expects (config key ``expect``)."""

    params: int | None = None
    shapes: tuple[int, ...] | None = None
    trainable_params: int | None = None  # after freezing a pretrained base
    base_params: int | None = None  # the pretrained base alone

    @classmethod
    def of(cls, spec) -> Expect | None:
        if spec is None or isinstance(spec, cls):
            return spec
        shapes = spec.get("shapes")
        return cls(
            spec.get("params"),
            tuple(shapes) if shapes is not None else None,
            spec.get("trainable_params"),
            spec.get("base_params"),
        )


@dataclass(frozen=True)
class Base:
    """A pretrained convolutional base (config key ``base``): its name, and the first layer that
    trains (None: the whole base is frozen)."""

    name: str
    trainable_from: str | None = None

    @classmethod
    def of(cls, spec) -> Base | None:
        if spec is None or isinstance(spec, cls):
            return spec
        return cls(spec["name"], spec.get("trainable_from"))


# What a setting means when a run's settings leave it out: the one table of defaults outside
# config/config.yaml. Each key here is left out of config/config.yaml's experiment_defaults on
# purpose (adding it there would change every finished run's parameters and rerun it, though its
# value here keeps today's behaviour); every other setting's default is config/config.yaml's, and
# the schema makes it required. tests/test_defaults.py fails, naming the place, if the two overlap.
ABSENT_SETTINGS = {
    # the book's Conv2D/MaxPooling2D blocks; the residual family's keys below apply to it alone
    "architecture": "convnet",
    "stem_filters": 32,
    "stem_kernel": 5,
    "stem_stride": 1,
    "separable": False,
    "convs_per_block": 2,
    "optimizer": "rmsprop",
    "weight_decay": 0.0,
    "learning_rate_schedule": "constant",
    "warmup_epochs": 0.0,
    "learning_rate_floor": 0.0,
    "label_smoothing": 0.0,
    "ema": 0.0,
    "mix": None,
    # no config key sets these (NOT_FROM_CONFIG): the model check is built before any run has its
    # seed, and for the two classes its expected counts are stated for
    "seed": None,
    "num_classes": 2,
}
# ModelSettings fields that no config key sets: the run's seed (from the seeds list) and the number
# of classes (from the data).
NOT_FROM_CONFIG = ("seed", "num_classes")


@dataclass(frozen=True, kw_only=True)
class ModelSettings:
    """What shapes an experiment's model and its check (``experiments.ARCHITECTURE_KEYS``), and the
    seed of a run's random layers (None for the model check, built before any run)."""

    image_size: tuple[int, int]
    # convnet: the book's Conv2D/MaxPooling2D blocks and Flatten; residual: blocks with batch
    # normalization and a shortcut, then global average pooling (the 2nd/3rd editions' mini-Xception)
    architecture: str
    conv_filters: tuple[int, ...]  # each block's filters
    dense_units: int  # 0: no hidden dense layer (Flatten or pooling, Dropout, then the head)
    dropout: float
    # residual only: the first convolution (0 filters: none) and each block's convolutions
    stem_filters: int
    stem_kernel: int
    stem_stride: int
    separable: bool  # depthwise separable convolutions in the blocks (Xception's)
    convs_per_block: int
    augmentation: Augmentation | None
    expect: Expect | None
    base: Base | None
    seed: int | None
    # from the data, not the config: two classes get one sigmoid unit, more a softmax over k units
    num_classes: int
    # fields that hold a block of settings of their own, each read by its type's ``of``
    NESTED: ClassVar[dict] = {"augmentation": Augmentation, "expect": Expect, "base": Base}

    @classmethod
    def of(cls, settings):
        """From an experiment's settings mapping (``convnet.core.experiments``), or settings already
        typed. Keys that are not fields (``seeds``) are left out; a key the mapping leaves out takes
        ``ABSENT_SETTINGS``'s value, and one that has none there is an error."""
        if isinstance(settings, cls):
            return settings
        if isinstance(settings, ModelSettings):
            settings = asdict(settings)
        known = [field.name for field in fields(cls)]
        values = {key: settings[key] if key in settings else ABSENT_SETTINGS.get(key, ...) for key in known}
        missing = [key for key, value in values.items() if value is ...]
        if missing:
            raise ConfigError(
                f"the settings leave out {', '.join(missing)}: give them (config/config.yaml's "
                "experiment_defaults sets every one)"
            )
        values["image_size"] = tuple(values["image_size"])
        values["conv_filters"] = tuple(values["conv_filters"])
        for key, kind in cls.NESTED.items():
            values[key] = kind.of(values[key])
        return cls(**values)

    def replace(self, **changes):
        return type(self)(**{**self.__dict__, **changes})

    def as_dict(self) -> dict:
        """Plain JSON-able values, e.g. for a run's fingerprint."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class RunSettings(ModelSettings):
    """One run: its model, and how it trains."""

    learning_rate: float
    optimizer: str  # rmsprop (the book's), adam, adamw or sgd (Nesterov momentum 0.9)
    weight_decay: float  # decoupled, as AdamW's; Keras 3 applies it with every optimizer
    # constant, or cosine: linear warm-up from 0 over warmup_epochs, then cosine decay to
    # learning_rate_floor x learning_rate
    learning_rate_schedule: str
    warmup_epochs: float
    learning_rate_floor: float
    label_smoothing: float
    ema: float  # momentum of an exponential moving average of the weights (0: none)
    batch_size: int
    epochs: int
    precision: str
    steps_per_epoch: int | None
    resize_interpolation: str
    rmsprop_epsilon: float
    init_from: str | None  # the experiment whose last-epoch model (same seed) this run starts from
    class_weight: str | None  # balanced: weigh each class's loss by n / (k * its count)
    mix: Mix | None  # CutMix or mixup of the training batches
    NESTED: ClassVar[dict] = {**ModelSettings.NESTED, "mix": Mix}
