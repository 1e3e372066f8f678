"""The book's convnet, built with the Keras 3 API only, and the model-summary check that guards
training.

The book's ``ImageDataGenerator(rescale=1./255, ...)`` becomes layers inside the model:
``Rescaling(1/255)`` and the augmentation of ``convnet.learn.augmentation`` (by default one layer that
draws and resamples as Keras 2.0.8's generator did). Augmentation is active only in training
(``training=True``), so evaluation and prediction see the plain image, as with the book's separate
test generator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import keras
from keras import layers

from .augmentation import augmentation_layers, layer_seed
from ..core.errors import ConfigError
from ..core.settings import Augmentation, Expect, ModelSettings

CHECKED_LAYER_TYPES = ("Conv2D", "MaxPooling2D", "Flatten", "Dense")


def head(num_classes: int) -> layers.Dense:
    """The output layer: one sigmoid unit for two classes (the book's), a softmax over
    ``num_classes`` units for more; float32 under mixed precision."""
    if num_classes < 2:
        raise ConfigError(
            f"a classifier needs at least 2 classes, the data has {num_classes}: check data.classes"
        )
    units, activation = (1, "sigmoid") if num_classes == 2 else (num_classes, "softmax")
    return layers.Dense(units, activation=activation, dtype="float32", name="probability")


def loss_name(num_classes: int) -> str:
    """Binary cross-entropy on 0/1 labels for two classes, sparse categorical on class indices for more."""
    return "binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy"


# The model builders take every setting from the caller (``model_from_settings``) and have no
# defaults of their own: a setting's default is config/config.yaml's or convnet.core.settings'
# ABSENT_SETTINGS, never a third value here (tests/test_defaults.py).


def make_model(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    conv_filters,
    dense_units: int,
    dropout: float,
    augmentation: Augmentation | None,
    seed: int | None,
) -> keras.Model:
    """Rescaling and augmentation inside the model, then Conv/MaxPool blocks, Flatten, Dropout,
    Dense relu (none with ``dense_units=0``) and the head: one sigmoid unit for two classes, a
    softmax for more."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in augmentation_layers(augmentation, seed):
        x = layer(x)
    x = layers.Rescaling(1.0 / 255, name="rescale")(x)
    for block, filters in enumerate(conv_filters, start=1):
        x = layers.Conv2D(filters, 3, activation="relu", name=f"conv{block}")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, classifier(x, num_classes, dense_units, dropout, seed), name="convnet")


def classifier(x, num_classes: int, dense_units: int, dropout: float, seed: int | None):
    """What follows the convolutions: Dropout, Dense relu (none with ``dense_units=0``), the head."""
    if dropout:
        x = layers.Dropout(dropout, seed=layer_seed(seed, "dropout"), name="dropout")(x)
    if dense_units:  # 0: the head right after the dropout (no hidden layer)
        x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    return head(num_classes)(x)


def make_residual_model(
    input_shape: tuple[int, int, int],
    num_classes: int,
    *,
    conv_filters,
    stem_filters: int,
    stem_kernel: int,
    stem_stride: int,
    separable: bool,
    convs_per_block: int,
    dense_units: int,
    dropout: float,
    augmentation: Augmentation | None,
    seed: int | None,
) -> keras.Model:
    """The 2nd and 3rd editions' "mini-Xception" family (Deep Learning with Python, 2nd ed. 9.3):
    rescaling and augmentation, a stem convolution, then per block ``convs_per_block`` times
    BatchNormalization, ReLU and a 3x3 convolution (depthwise separable with ``separable``),
    MaxPooling2D(3, strides=2), plus a strided 1x1 convolution of the block's input (the
    shortcut); global average pooling and the classifier of ``make_model``. As in the book's
    text, no convolution has a bias (the batch normalization after it has one); with
    config/beyond.yaml's ``xception_small`` settings at 180x180: its 721,857 parameters."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in augmentation_layers(augmentation, seed):
        x = layer(x)
    x = layers.Rescaling(1.0 / 255, name="rescale")(x)
    if stem_filters:
        x = layers.Conv2D(stem_filters, stem_kernel, strides=stem_stride, use_bias=False, name="stem")(x)
    convolution = layers.SeparableConv2D if separable else layers.Conv2D
    for block, filters in enumerate(conv_filters, start=1):
        shortcut = x
        for index in range(1, convs_per_block + 1):
            x = layers.BatchNormalization(name=f"block{block}_norm{index}")(x)
            x = layers.Activation("relu", name=f"block{block}_relu{index}")(x)
            x = convolution(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv{index}")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"block{block}_pool")(x)
        shortcut = layers.Conv2D(
            filters, 1, strides=2, padding="same", use_bias=False, name=f"block{block}_shortcut"
        )(shortcut)
        x = layers.Add(name=f"block{block}_add")([x, shortcut])
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(
        inputs, classifier(x, num_classes, dense_units, dropout, seed), name="residual_convnet"
    )


def smallest_image_size(blocks: int) -> int:
    """The smallest side that survives ``blocks`` of 3x3 convolution + 2x2 pooling."""
    size = 1
    for _ in range(blocks):
        size = size * 2 + 2
    return size


@dataclasses.dataclass(frozen=True)
class PretrainedBase:
    """A convolutional base of ``keras.applications`` that an experiment can name."""

    application: Callable[..., keras.Model]
    smallest_side: int  # the smallest image side the application accepts
    # True: the book's Rescaling(1/255) in front (its section 5.3 feeds VGG16 that way); False: the
    # application's own preprocessing, inside it (include_preprocessing), takes the 0-255 pixels
    book_rescaling: bool
    # how the feature map becomes a vector: "flatten" (the book's, for VGG16) or "average"
    # (global average pooling, as Keras's transfer-learning guide does for today's bases)
    pooling: str
    # Keras's table of applications (keras.io/api/applications), "Parameters": the whole ImageNet
    # classifier (include_top=True), in millions, as Keras rounds it; the model check compares
    documented_params_millions: float


# Pretrained bases by config name (config/config.schema.yaml's base.name lists the same names;
# pretrained.weights in config/config.yaml their ImageNet weights). EfficientNetV2-B0 (78.7% top-1
# at 0.7 GFLOPs) and ConvNeXt-Tiny (81.3% at 4.5) beside the book's VGG16 (71.3% at 15.5).
PRETRAINED_BASES = {
    "vgg16": PretrainedBase(keras.applications.VGG16, 32, True, "flatten", 138.4),
    "efficientnetv2b0": PretrainedBase(keras.applications.EfficientNetV2B0, 32, False, "average", 7.2),
    "convnext_tiny": PretrainedBase(keras.applications.ConvNeXtTiny, 32, False, "average", 28.6),
}


def set_trainable(base: keras.Model, trainable_from: str | None, experiment: str = "") -> None:
    """Freeze the whole base (None), or train it from layer ``trainable_from`` on, as the book's
    fine-tuning does (``block5_conv1``: the last convolution block). Batch normalization stays
    frozen in every case (Keras's transfer-learning guide): its statistics and scales stay
    ImageNet's, as the base is also called in inference mode (``make_pretrained_model``)."""
    if trainable_from is None:
        base.trainable = False
        return
    names = [layer.name for layer in base.layers]
    if trainable_from not in names:
        raise ConfigError(
            f"experiments.{experiment or '<name>'}.base.trainable_from {trainable_from!r} is not a layer of "
            f"{base.name}: use one of {', '.join(n for n in names if 'conv' in n)}"
        )
    base.trainable = True
    start = names.index(trainable_from)
    for index, layer in enumerate(base.layers):
        layer.trainable = index >= start and not isinstance(layer, layers.BatchNormalization)


def documented_base_check(base_name: str) -> str:
    """Build the base's whole ImageNet classifier (random weights) and compare its parameters with
    Keras's documented figure: the application this Keras builds is the one Keras describes.
    Returns the line for the model summary; a mismatch is a ConfigError."""
    base = PRETRAINED_BASES[base_name]
    count = base.application(include_top=True, weights=None).count_params()
    documented = base.documented_params_millions
    if round(count / 1e6, 1) != documented:
        raise ConfigError(
            f"{base_name}: this Keras builds {count:,} parameters with the ImageNet top, Keras documents "
            f"{documented}M: pin the keras version of requirements.txt"
        )
    return f"{base_name} with its ImageNet top: {count:,} parameters, Keras documents {documented}M"


def make_pretrained_model(
    input_shape: tuple[int, int, int],
    base_name: str,
    num_classes: int,
    trainable_from: str | None,
    *,
    dense_units: int,
    dropout: float,
    augmentation: Augmentation | None,
    seed: int | None,
    weights: str | None,
    experiment: str,
) -> keras.Model:
    """The book's section 5.3 model: augmentation, the book's rescaling for VGG16 (the other bases
    preprocess inside), a pretrained convolutional base (``weights``: its .h5 file; None: random,
    for the model check and for loading saved weights) called in inference mode, so that its
    batch normalization keeps ImageNet's statistics however much of it trains; then Flatten (VGG16)
    or global average pooling, Dense relu, Dropout after it (as the book's classifier on extracted
    features) and the head (``head``)."""
    spec = PRETRAINED_BASES[base_name]
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in augmentation_layers(augmentation, seed):
        x = layer(x)
    if spec.book_rescaling:
        x = layers.Rescaling(1.0 / 255, name="rescale")(x)
    base = spec.application(include_top=False, weights=weights, input_shape=input_shape)
    set_trainable(base, trainable_from, experiment)
    x = base(x, training=False)
    if spec.pooling == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    if dropout:
        x = layers.Dropout(dropout, seed=layer_seed(seed, "dropout"), name="dropout")(x)
    return keras.Model(inputs, head(num_classes)(x), name=f"{base_name}_convnet")


def model_from_settings(
    settings: ModelSettings | dict, experiment: str = "", base_weights: str | None = None
) -> keras.Model:
    """The experiment's model: the book's convnet from scratch, or a pretrained base (whose
    weights file, ``base_weights``, is loaded when given)."""
    settings = settings if isinstance(settings, ModelSettings) else ModelSettings.of(settings)
    height, width = settings.image_size
    # what every family takes: the augmentation in front, the classifier at the end, the run's seed
    # (None for the model check, built before any run has its seed)
    shared = dict(
        dense_units=settings.dense_units,
        dropout=settings.dropout,
        augmentation=settings.augmentation,
        seed=settings.seed,
    )
    if settings.base is not None:
        smallest = PRETRAINED_BASES[settings.base.name].smallest_side
        if min(height, width) < smallest:
            raise ConfigError(
                f"experiments.{experiment or '<name>'}.image_size {[height, width]} is too small for "
                f"{settings.base.name}: use at least {smallest} per side"
            )
        return make_pretrained_model(
            (height, width, 3),
            settings.base.name,
            settings.num_classes,
            settings.base.trainable_from,
            **shared,
            weights=str(base_weights) if base_weights else None,
            experiment=experiment,
        )
    if settings.architecture == "residual":
        return make_residual_model(
            (height, width, 3),
            settings.num_classes,
            conv_filters=settings.conv_filters,
            stem_filters=settings.stem_filters,
            stem_kernel=settings.stem_kernel,
            stem_stride=settings.stem_stride,
            separable=settings.separable,
            convs_per_block=settings.convs_per_block,
            **shared,
        )
    blocks = len(settings.conv_filters)
    if min(height, width) < smallest_image_size(blocks):
        raise ConfigError(
            f"experiments.{experiment or '<name>'}.image_size {[height, width]} is too small for "
            f"{blocks} convolution blocks: use at least {smallest_image_size(blocks)} per side, or fewer "
            "conv_filters"
        )
    return make_model((height, width, 3), settings.num_classes, conv_filters=settings.conv_filters, **shared)


def summary_rows(model: keras.Model) -> list[dict]:
    """One row per layer: name, type, output shape (without the batch axis), parameters, and how
    many of them train (a frozen pretrained base: none)."""
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "output_shape": "x".join(str(d) for d in shape),
                "params": layer.count_params(),
                "trainable_params": sum(int(math.prod(w.shape)) for w in layer.trainable_weights),
            }
        )
    return rows


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=120)
    return "\n".join(lines) + "\n"


def expected_for_classes(expect: Expect, rows: list[dict], num_classes: int) -> Expect:
    """``expect`` as the config states it is for the two-class model (one sigmoid unit, as the
    book's numbers are); with k > 2 classes the head has k units: (k - 1) more outputs of the last
    Dense layer, each with its weights from the layer before and a bias."""
    if num_classes <= 2 or not rows:
        return expect
    units = int(rows[-1]["output_shape"].split("x")[-1])
    per_unit = rows[-1]["params"] // units  # each output unit: its fan-in weights and a bias
    extra = (num_classes - 1) * per_unit
    shapes = expect.shapes
    if shapes:
        shapes = (*shapes[:-1], num_classes)
    return Expect(
        params=None if expect.params is None else expect.params + extra,
        shapes=shapes,
        trainable_params=None if expect.trainable_params is None else expect.trainable_params + extra,
        base_params=expect.base_params,
    )


def check_summary(
    rows: list[dict], expect: Expect | dict | None, experiment: str, num_classes: int = 2
) -> None:
    """Raise ConfigError naming the first layer that differs from the expectation (stated for two
    classes; ``expected_for_classes`` adds the head of ``num_classes``)."""
    expect = Expect.of(expect)
    if not expect:
        return
    expect = expected_for_classes(expect, rows, num_classes)
    heads = f" (the two-class expectation with a {num_classes}-unit head)" if num_classes > 2 else ""
    key = f"experiments.{experiment}.expect"
    checked = [row for row in rows if row["type"] in CHECKED_LAYER_TYPES]
    shapes = expect.shapes
    if shapes is not None:
        for row, wanted in zip(checked, shapes):
            got = int(row["output_shape"].split("x")[0])
            if got != wanted:
                raise ConfigError(
                    f"experiment {experiment!r}: layer {row['layer']} ({row['type']}) outputs {got} but "
                    f"{key}.shapes expects {wanted}{heads}: fix the architecture settings or {key}"
                )
        if len(checked) != len(shapes):
            raise ConfigError(
                f"experiment {experiment!r}: the model has {len(checked)} Conv2D/MaxPooling2D/Flatten/"
                f"Dense layers but {key}.shapes lists {len(shapes)}: fix the architecture or {key}"
            )
    counts = {
        "params": sum(row["params"] for row in rows),
        "trainable_params": sum(row["trainable_params"] for row in rows),
        "base_params": sum(row["params"] for row in rows if row["type"] in ("Functional", "Model")),
    }
    words = {
        "params": "parameters",
        "trainable_params": "trainable parameters",
        "base_params": "parameters in its pretrained base",
    }
    for name, count in counts.items():
        wanted = getattr(expect, name)
        if wanted is not None and count != wanted:
            raise ConfigError(
                f"experiment {experiment!r}: the model has {count:,} {words[name]} but {key}.{name} expects "
                f"{wanted:,}{heads}: fix the architecture settings or {key}"
            )
