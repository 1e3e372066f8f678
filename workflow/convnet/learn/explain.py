"""Where a model looks: Grad-CAM (Selvaraju et al. 2017, as in Keras's "Grad-CAM class activation
visualization" example) over the last feature map of each model family: the book's convnet (its
last convolution), the residual family (its last block) and a pretrained base (its output).

A heatmap is the feature map weighted by the mean gradient of the class's log-probability over
each channel, positive part only, scaled to [0, 1] per image, at the feature map's own resolution
(the sheets stretch it over the photo). Two classes with one sigmoid unit p: log p for the second
class and log(1 - p) for the first, so the two heatmaps differ.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from ..core.errors import ConfigError

log = logging.getLogger(__name__)

POOLING = ("MaxPooling2D", "AveragePooling2D")


def feature_tensor(model: keras.Model):
    """The last feature map of ``model``'s graph that is not a pooling: the output of the last
    layer with a (batch, height, width, channels) output, as that layer gives it inside
    ``model`` (a pretrained base is a nested model, whose own ``output`` belongs to its graph)."""
    layers = [
        layer
        for layer in model.layers
        if len(layer.output.shape) == 4 and type(layer).__name__ not in POOLING and layer._inbound_nodes
    ]
    if not layers:
        raise ConfigError(f"model {model.name!r} has no convolutional feature map to explain")
    layer = layers[-1]
    # the node of the call inside ``model`` (Keras 3 has no public accessor for a nested model's)
    return layer.name, layer._inbound_nodes[-1].output_tensors[0]


def log_probability(outputs, class_indices):
    """Each image's log-probability of its class: one sigmoid unit p gives class 1 log p and
    class 0 log(1 - p); a softmax its column."""
    outputs = keras.ops.clip(keras.ops.cast(outputs, "float32"), 1e-7, 1 - 1e-7)
    if outputs.shape[-1] == 1:
        p = outputs[:, 0]
        second = keras.ops.cast(keras.ops.convert_to_tensor(class_indices), "float32")
        return second * keras.ops.log(p) + (1 - second) * keras.ops.log(1 - p)
    picked = keras.ops.take_along_axis(outputs, keras.ops.convert_to_tensor(class_indices)[:, None], axis=1)
    return keras.ops.log(picked[:, 0])


def _gradients(head: keras.Model, features: np.ndarray, class_indices: np.ndarray) -> np.ndarray:
    """d(sum of log-probabilities)/d(features): each image's gradient (images are independent)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        features = tf.convert_to_tensor(features)
        with tf.GradientTape() as tape:
            tape.watch(features)
            score = tf.reduce_sum(log_probability(head(features, training=False), class_indices))
        return tape.gradient(score, features).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def score(f):
            return jnp.sum(log_probability(head(f, training=False), class_indices))

        return np.asarray(jax.grad(score)(jnp.asarray(features)))
    if backend == "torch":
        import torch

        features = torch.tensor(features, requires_grad=True)
        log_probability(head(features, training=False), class_indices).sum().backward()
        return features.grad.detach().cpu().numpy()
    raise ConfigError(f"heatmaps: the {backend} backend is not supported; use tensorflow, jax or torch")


def grad_cam(
    model: keras.Model, images: np.ndarray, class_indices, batch_size: int = 16
) -> tuple[str, np.ndarray]:
    """The name of the explained layer and one heatmap per image for the class asked for,
    (images, height, width) of that layer's feature map, each in [0, 1] (all 0 where nothing
    speaks for the class)."""
    name, tensor = feature_tensor(model)
    to_features = keras.Model(model.inputs[0], tensor)
    head = keras.Model(tensor, model.output)
    class_indices = np.asarray(class_indices, dtype=np.int32).reshape(-1)
    maps = []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], dtype="float32")
        features = np.asarray(to_features(batch, training=False), dtype="float32")
        grads = _gradients(head, features, class_indices[start : start + batch_size])
        weights = grads.mean(axis=(1, 2), keepdims=True)
        cam = np.maximum((features * weights).sum(axis=-1), 0)
        peak = cam.max(axis=(1, 2), keepdims=True)
        maps.append(np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0))
    shape = tuple(tensor.shape[1:3])
    return name, np.concatenate(maps) if maps else np.zeros((0, *shape), dtype="float32")


def heatmaps_by_file(
    model: keras.Model, images: np.ndarray, files, class_indices, classes
) -> tuple[str, dict]:
    """The explained layer and ``{file: (class name, heatmap)}`` of ``images`` (one per file, for
    the class index given): what ``records.write_heatmaps`` writes and the sheets draw."""
    layer, maps = grad_cam(model, images, class_indices)
    return layer, {
        file: (classes[int(c)], grid.tolist()) for file, c, grid in zip(files, class_indices, maps)
    }


def sheet_heatmaps(model: keras.Model, photos, rows: list[dict], classes) -> tuple[str, dict]:
    """Heatmaps of the label each photo got (``rows``: ``predict_photos``' rows) over the photos a
    prediction contact sheet shows (``sheet_photos``)."""
    from ..arrays.photos import sheet_photos

    predicted = {row["file"]: row["predicted"] for row in rows}
    shown = sheet_photos(photos)
    height, width = model.input_shape[1:3]
    images = np.stack([photo.image for photo in shown]) if shown else np.zeros((0, height, width, 3), "uint8")
    indices = [classes.index(predicted[photo.file]) for photo in shown]
    return heatmaps_by_file(model, images, [photo.file for photo in shown], indices, classes)


def write(path, layer: str, heatmaps: dict) -> None:
    from ..core.records import write_heatmaps

    write_heatmaps(path, layer, heatmaps)
    log.info("%s: %d heatmaps of layer %s", path, len(heatmaps), layer)


def explain_errors(model_path, test_cache, predictions_csv, path) -> None:
    """Heatmaps of the predicted class over the test images the errors sheet shows (the last
    checkpoint's most confident errors)."""
    from ..arrays.cache import load_image_set
    from ..arrays.metrics import most_confident_errors, predicted_classes
    from ..core.records import read_predictions
    from .export import load_portable

    test = load_image_set(test_cache)
    predictions = read_predictions(predictions_csv, test.classes)
    labels = np.array([predictions[file][0] for file in test.files])
    probabilities = np.array([predictions[file][1] for file in test.files])
    chosen = most_confident_errors(labels, probabilities)
    predicted = predicted_classes(probabilities)[chosen]
    files = [str(test.files[i]) for i in chosen]
    model = load_portable(model_path)
    write(path, *heatmaps_by_file(model, test.images[chosen], files, predicted, test.classes))


def explain_predictions(model_path, photos, rows: list[dict], classes, path) -> None:
    """Heatmaps of the predicted class over the photos a prediction contact sheet shows: the
    photos and rows ``predict_photos`` gave (not read a second time)."""
    from .export import load_portable

    write(path, *sheet_heatmaps(load_portable(model_path), photos, rows, classes))
