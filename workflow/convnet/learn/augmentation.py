"""Data augmentation inside the model, active only in training.

Two methods, chosen by ``augmentation.method`` in the config:

- ``affine`` (the default): :class:`BookAugmentation`, one layer that does what the book's Keras
  2.0.8 ``ImageDataGenerator.random_transform`` did. Per image it draws a rotation (degrees), a
  shift (fractions of the height and width), a shear (an angle in radians: 2.0.8 passed
  ``shear_range`` to ``sin``/``cos`` unconverted), independent zooms of the height and width in
  ``[1 - zoom, 1 + zoom]``, a horizontal flip and (``vertical_flip``, which later generators
  added) a vertical one, composes them into one affine matrix about the
  image centre and resamples once, with nearest-neighbour interpolation (2.0.8 called
  ``scipy.ndimage.affine_transform(..., order=0)``) and ``nearest`` fill.
- ``layers``: one Keras 3 preprocessing layer per transformation (RandomFlip, RandomRotation,
  RandomTranslation, RandomShear, RandomZoom), each resampling the image again. This is what the
  workflow did before the affine layer; kept for comparison and for users who want Keras's own
  layers.

The shear is an angle in both: ``shear_radians`` (the book's unit, 0.2 = +-11.5 degrees) or
``shear_degrees``; a config gives one of them (``convnet.core.settings.Augmentation`` reads either).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from .backend import compiled_on_jax
from ..core.settings import Augmentation

# Every layer that draws random numbers, in a fixed order: each gets its own seed from the run's.
RANDOM_LAYERS = ("flip", "rotate", "shift", "shear", "zoom", "dropout", "affine")


def layer_seed(seed: int | None, layer: str) -> int | None:
    """The seed of one random layer, derived from the run's seed. Layers given the same seed draw
    the same numbers: every flipped image would also be rotated one way, and zoomed by an amount
    tied to that angle."""
    if seed is None:
        return None
    return int(np.random.SeedSequence(seed).generate_state(len(RANDOM_LAYERS))[RANDOM_LAYERS.index(layer)])


@keras.saving.register_keras_serializable(package="convnet")
class BookAugmentation(layers.Layer):
    """Keras 2.0.8's ``ImageDataGenerator.random_transform`` for a batch, resampled once.

    Coordinates follow 2.0.8: ``(row, column)``, the matrix maps an output pixel to the input pixel
    it samples, the centre is ``(height / 2 + 0.5, width / 2 + 0.5)`` and the product is
    ``rotation @ shift @ shear @ zoom``. The horizontal flip, which 2.0.8 applied to the
    transformed image, is folded into the same matrix, so each image is resampled exactly once.
    Always computes in float32 (the model's mixed-precision policy applies after it)."""

    # the constructor's settings, the same as convnet.core.settings.Augmentation's fields of that name
    PARAMETERS = (
        "rotation_degrees",
        "height_shift",
        "width_shift",
        "shear_radians",
        "zoom",
        "zoom_keep_aspect",
        "horizontal_flip",
        "vertical_flip",
        "fill_mode",
        "interpolation",
    )

    def __init__(
        self,
        rotation_degrees: float = 0.0,
        height_shift: float = 0.0,
        width_shift: float = 0.0,
        shear_radians: float = 0.0,
        zoom: float = 0.0,
        zoom_keep_aspect: bool = False,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        fill_mode: str = "nearest",
        interpolation: str = "nearest",
        seed: int | None = None,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.rotation_degrees = float(rotation_degrees)
        self.height_shift = float(height_shift)
        self.width_shift = float(width_shift)
        self.shear_radians = float(shear_radians)
        self.zoom = float(zoom)
        self.zoom_keep_aspect = bool(zoom_keep_aspect)
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def random_parameters(self, batch_size) -> dict:
        """Per image, as 2.0.8 drew them: rotation ``theta`` (radians), shifts ``tx``/``ty``
        (fractions of the height/width), ``shear`` (radians), zooms ``zx``/``zy`` (height/width)
        and ``flip`` (1.0 or 0.0); ``vflip`` too with ``vertical_flip``; ``zy`` is ``zx`` with
        ``zoom_keep_aspect``."""
        u = keras.random.uniform((batch_size, 7), seed=self.seed_generator)

        def symmetric(column, bound):
            return (2.0 * u[:, column] - 1.0) * bound

        parameters = {
            "theta": symmetric(0, math.radians(self.rotation_degrees)),
            "tx": symmetric(1, self.height_shift),
            "ty": symmetric(2, self.width_shift),
            "shear": symmetric(3, self.shear_radians),
            "zx": 1.0 + symmetric(4, self.zoom),
            # one factor for both with zoom_keep_aspect; the column is drawn either way
            "zy": 1.0 + symmetric(4 if self.zoom_keep_aspect else 5, self.zoom),
            "flip": ops.cast(u[:, 6] < 0.5, "float32") if self.horizontal_flip else 0.0 * u[:, 6],
        }
        if self.vertical_flip:  # a draw of its own: without it the random stream is as before
            draw = keras.random.uniform((batch_size,), seed=self.seed_generator)
            parameters["vflip"] = ops.cast(draw < 0.5, "float32")
        return parameters

    @staticmethod
    def matrices(parameters: dict, height: int, width: int):
        """(batch, 3, 3) matrices in 2.0.8's (row, column) convention, centred, flip included."""
        theta, shear = parameters["theta"], parameters["shear"]
        tx, ty = parameters["tx"] * height, parameters["ty"] * width
        zx, zy, flip = parameters["zx"], parameters["zy"], parameters["flip"]
        cos, sin = ops.cos(theta), ops.sin(theta)
        sin_shear, cos_shear = ops.sin(shear), ops.cos(shear)
        # rotation @ shift @ shear @ zoom, multiplied out: rows of the 2x3 affine part.
        a00, a01 = cos * zx, (-cos * sin_shear - sin * cos_shear) * zy
        a10, a11 = sin * zx, (-sin * sin_shear + cos * cos_shear) * zy
        b0 = cos * tx - sin * ty
        b1 = sin * tx + cos * ty
        # About the centre: offset @ M @ reset, with 2.0.8's o = size / 2 + 0.5.
        o_row, o_col = height / 2.0 + 0.5, width / 2.0 + 0.5
        b0 = b0 + o_row - a00 * o_row - a01 * o_col
        b1 = b1 + o_col - a10 * o_row - a11 * o_col
        # The flip, applied after the transform, reads column (width - 1 - c): centred @ flip.
        sign = 1.0 - 2.0 * flip
        flip_offset = flip * (width - 1.0)
        a01, b0 = a01 * sign, b0 + a01 * flip_offset
        a11, b1 = a11 * sign, b1 + a11 * flip_offset
        if "vflip" in parameters:  # likewise row (height - 1 - r)
            vflip = parameters["vflip"]
            vsign, vflip_offset = 1.0 - 2.0 * vflip, vflip * (height - 1.0)
            a00, b0 = a00 * vsign, b0 + a00 * vflip_offset
            a10, b1 = a10 * vsign, b1 + a10 * vflip_offset
        zero, one = ops.zeros_like(a00), ops.ones_like(a00)
        return ops.stack(
            [ops.stack([a00, a01, b0], -1), ops.stack([a10, a11, b1], -1), ops.stack([zero, zero, one], -1)],
            axis=1,
        )

    def transform(self, images, parameters: dict):
        """Resample ``images`` (batch, height, width, channels) once with the parameters' matrices."""
        height, width = images.shape[1], images.shape[2]
        m = self.matrices(parameters, height, width)
        # keras.ops.image.affine_transform maps output (x, y) = (column, row) to the input point.
        zero = ops.zeros_like(m[:, 0, 0])
        flat = ops.stack(
            [m[:, 1, 1], m[:, 1, 0], m[:, 1, 2], m[:, 0, 1], m[:, 0, 0], m[:, 0, 2], zero, zero], axis=-1
        )
        return ops.image.affine_transform(
            images,
            flat,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            data_format="channels_last",
        )

    def call(self, images, training=None):
        if not training:
            return images
        return self.transform(images, self.random_parameters(ops.shape(images)[0]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in self.PARAMETERS}, seed=self.seed)
        return config


def keras_layers(spec: Augmentation, seed: int | None) -> list[layers.Layer]:
    """The ``layers`` method: one Keras 3 preprocessing layer per transformation.

    | book argument            | layer                                                          |
    | ------------------------ | -------------------------------------------------------------- |
    | ``horizontal_flip=True`` | ``RandomFlip("horizontal")`` (``"horizontal_and_vertical"`` or  |
    | ``vertical_flip=True``   | ``"vertical"`` with ``vertical_flip``)                          |
    | ``rotation_range=40``    | ``RandomRotation(40/360)``: the layer takes a fraction of a turn |
    | ``width_shift_range``    | ``RandomTranslation(height_shift, width_shift)``: fractions    |
    | ``shear_range``          | ``RandomShear(x_factor=tan(angle))``: a shear coefficient      |
    | ``zoom_range=0.2``       | ``RandomZoom(0.2, 0.2)``: height and width drawn independently |
    | (``zoom_keep_aspect``)   | ``RandomZoom(0.2)``: one factor, as the later editions' layers   |
    """
    geometric = {"fill_mode": spec.fill_mode, "interpolation": spec.interpolation}
    result: list[layers.Layer] = []
    if spec.horizontal_flip or spec.vertical_flip:
        mode = "_and_".join(
            name
            for name, on in (("horizontal", spec.horizontal_flip), ("vertical", spec.vertical_flip))
            if on
        )
        result.append(layers.RandomFlip(mode, seed=layer_seed(seed, "flip"), name="flip"))
    if spec.rotation_degrees:
        result.append(
            layers.RandomRotation(
                spec.rotation_degrees / 360.0, seed=layer_seed(seed, "rotate"), name="rotate", **geometric
            )
        )
    if spec.width_shift or spec.height_shift:
        result.append(
            layers.RandomTranslation(
                spec.height_shift, spec.width_shift, seed=layer_seed(seed, "shift"), name="shift", **geometric
            )
        )
    if spec.shear_radians:
        result.append(
            layers.RandomShear(
                x_factor=math.tan(spec.shear_radians),
                seed=layer_seed(seed, "shear"),
                name="shear",
                **geometric,
            )
        )
    if spec.zoom:
        result.append(
            layers.RandomZoom(
                spec.zoom,
                None if spec.zoom_keep_aspect else spec.zoom,  # None: the height's factor for both
                seed=layer_seed(seed, "zoom"),
                name="zoom",
                **geometric,
            )
        )
    return compiled_on_jax(result)


def augmentation_layers(spec: Augmentation | dict | None, seed: int | None = None) -> list[layers.Layer]:
    """The layers that augment training images as ``spec`` (the config's ``augmentation``) says."""
    spec = Augmentation.of(spec)
    if spec is None:
        return []
    if spec.method == "layers":
        return keras_layers(spec, seed)
    return [
        BookAugmentation(
            **{name: getattr(spec, name) for name in BookAugmentation.PARAMETERS},
            seed=layer_seed(seed, "affine"),
            name="augment",
        )
    ]
