"""The saved models: float32 inference models that load and predict anywhere, with their run card;
and their exports (SavedModel, ONNX, LiteRT), each checked against the Keras model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np

from .backend import dtype_policy
from .compiling import compile_model
from ..core.errors import DataError
from ..core.files import atomic_path, atomic_write_text
from .model import model_from_settings
from ..core.runcard import MODEL_METADATA_KEY, RunCard
from ..core.settings import RunSettings


log = logging.getLogger(__name__)


def portable_model(settings: RunSettings) -> keras.Model:
    """The inference model of a run, in float32 whatever precision trained it, so that it loads and
    predicts anywhere; built once per run, for both saved checkpoints. Like the book's saved model
    it has no augmentation layers: they do nothing outside training, hold no weights, and Keras
    3.15 cannot reload a RandomShear layer it saved. Batch mixing is training's only: the saved
    model is compiled for plain labels."""
    with dtype_policy("float32"):
        return compile_model(
            model_from_settings(settings.replace(augmentation=None)), settings.replace(mix=None)
        )


def native_path(h5_path: Path) -> Path:
    """The Keras 3 native model saved beside an ``.h5`` one: the same name, ``.keras``."""
    return Path(h5_path).with_suffix(".keras")


def save_portable(model: keras.Model, weights: list[np.ndarray], path: Path, card: RunCard | None) -> None:
    """Save ``model`` (``portable_model``) with ``weights`` to ``path`` (.h5, as the book saved
    its models) and as Keras 3's native ``.keras`` beside it, the run card inside both."""
    model.set_weights(weights)
    for target in (Path(path), native_path(path)):
        with atomic_path(target) as tmp:
            model.save(tmp)
            if card is not None:
                card.embed(tmp)


def load_portable(path: Path) -> keras.Model:
    """A model the workflow saved (``save_portable``), in float32 as it was saved, without its
    compiled loss; a file that cannot be loaded is a one-line error naming it."""
    try:
        with dtype_policy("float32"):
            return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be loaded ({exc}); rerun its training") from None


# Portable exports of a run's model (results/exports/{experiment}/seed{N}/), each checked against the
# Keras model: the largest difference of a probability allowed on the check's images.
EXPORT_TOLERANCE = 1e-4
# file name -> Keras 3's Model.export format (the ONNX model: from the SavedModel, write_onnx)
EXPORT_FORMATS = {"saved_model": "tf_saved_model", "model.onnx": "onnx", "model.tflite": "litert"}


def write_onnx(saved_model: Path, target: Path) -> None:
    """ONNX from the exported SavedModel, by tf2onnx's converter as its command line runs it.
    Keras 3.15's own ONNX export (``format="onnx"``) leaves the constants of a layer such as
    EfficientNetV2's preprocessing Normalization as extra inputs of the graph, which ONNX Runtime
    then asks for; the SavedModel's frozen graph holds them as constants."""
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "tf2onnx.convert",
        "--saved-model",
        str(saved_model),
        "--output",
        str(target),
    ]
    proc = subprocess.run(command + ["--signature_def", "serving_default"], capture_output=True, text=True)
    log.debug("%s", proc.stderr)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(f"{target}: tf2onnx could not convert {saved_model} ({last})")


class OnnxModel:
    """An exported ONNX model run by ONNX Runtime, with the Keras model's ``predict`` call."""

    def __init__(self, path: Path):
        import onnxruntime

        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DataError(f"{path}: cannot be loaded as an ONNX model ({exc})") from None
        self.input = self.session.get_inputs()[0].name

    @property
    def metadata(self) -> dict[str, str]:
        return self.session.get_modelmeta().custom_metadata_map

    def predict(self, images: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        batches = [
            self.session.run(None, {self.input: np.asarray(images[i : i + batch_size], dtype="float32")})[0]
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(batches)


class LiteRTModel:
    """An exported LiteRT (TensorFlow Lite) model run by LiteRT's interpreter, with ``predict``."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path))
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def predict(self, images: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        images = np.asarray(images, dtype="float32")
        self.interpreter.resize_tensor_input(self.input, images.shape)
        self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(self.input, images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)


class SavedModel:
    """An exported TensorFlow SavedModel, with ``predict`` (its ``serve`` endpoint)."""

    def __init__(self, path: Path):
        import tensorflow as tf

        self.loaded = tf.saved_model.load(str(path))

    def predict(self, images: np.ndarray, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        return np.asarray(self.loaded.serve(np.asarray(images, dtype="float32")))


EXPORT_RUNNERS = {"saved_model": SavedModel, "model.onnx": OnnxModel, "model.tflite": LiteRTModel}


def export_model(model: keras.Model, folder: Path, card: RunCard | None) -> None:
    """Write every format of EXPORT_FORMATS into ``folder`` (each atomically), the run card in the
    ONNX model's metadata and beside them as run_card.json."""
    model(np.zeros((1, *model.input_shape[1:]), "float32"))  # Keras exports only a model it has called
    for name, export_format in EXPORT_FORMATS.items():
        with atomic_path(folder / name) as tmp:
            if export_format == "onnx":
                write_onnx(folder / "saved_model", tmp)
                if card is not None:
                    import onnx

                    exported = onnx.load(str(tmp))
                    onnx.helper.set_model_props(exported, {MODEL_METADATA_KEY: card.as_json()})
                    onnx.save(exported, str(tmp))
            else:
                model.export(str(tmp), format=export_format, verbose=False)
    if card is not None:
        card.write(folder / "run_card.json")


def export_differences(model: keras.Model, folder: Path, images: np.ndarray) -> dict[str, float]:
    """The largest difference between each exported model's outputs and the Keras model's, over
    ``images``."""
    expected = np.asarray(model.predict(images, verbose=0), dtype=np.float64)
    return {
        name: float(np.abs(np.asarray(runner(folder / name).predict(images), np.float64) - expected).max())
        for name, runner in EXPORT_RUNNERS.items()
    }


def export_run(model_path: Path, images: np.ndarray, folder: Path, check_path: Path) -> dict:
    """Export the run's model (its ``.keras``) in every format, run each on ``images`` and fail,
    naming the format, if one differs from Keras by more than EXPORT_TOLERANCE; the differences
    go to ``check_path`` (JSON), written last: its presence says the exports passed."""
    model = load_portable(model_path)
    card = RunCard.read(model_path)
    export_model(model, Path(folder), card)
    differences = export_differences(model, Path(folder), images)
    worst = max(differences, key=differences.get)
    if differences[worst] > EXPORT_TOLERANCE:
        raise DataError(
            f"{Path(folder) / worst}: gives probabilities up to {differences[worst]:.2g} away from "
            f"{model_path}'s (more than {EXPORT_TOLERANCE}); report it with the versions in run_card.json"
        )
    result = {"images": int(len(images)), "tolerance": EXPORT_TOLERANCE, "max_abs_difference": differences}
    atomic_write_text(check_path, json.dumps(result, indent=2) + "\n")
    return result


def load_classifier(path: Path):
    """A model to classify with: a Keras one (.h5, .keras) or an exported ONNX one (.onnx)."""
    if Path(path).suffix == ".onnx":
        return OnnxModel(path)
    return load_portable(path)


def card_of(path: Path) -> RunCard | None:
    """The run card inside a model the workflow saved or exported (.h5, .keras, .onnx)."""
    if Path(path).suffix == ".onnx":
        text = OnnxModel(path).metadata.get(MODEL_METADATA_KEY)
        return None if text is None else RunCard.parse(text, path)
    return RunCard.read(path)
