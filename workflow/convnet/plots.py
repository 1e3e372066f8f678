"""The workflow's figures: training curves as in the book, the experiments side by side, confusion
matrices and the test images the model got most confidently wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on cluster nodes or CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# Colour-blind-safe pair (Okabe-Ito) for training vs validation; markers tell them apart in grey too.
TRAIN_COLOUR, VALIDATION_COLOUR, BEST_COLOUR = "#0072B2", "#D55E00", "#555555"
LABELS = {"accuracy": "Accuracy", "loss": "Loss (binary cross-entropy)"}


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_csv(path)


def best_epoch(history: pd.DataFrame) -> int:
    """The epoch with the lowest validation loss (the one saved as ``_best.h5``)."""
    return int(history.loc[history["val_loss"].idxmin(), "epoch"])


def history_figure(history: pd.DataFrame, metric: str, experiment: str):
    """Training vs validation ``metric`` per epoch, with the best epoch marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    ax.plot(history["epoch"], history[metric], "o", ms=4, color=TRAIN_COLOUR, label=f"Training {metric}")
    ax.plot(
        history["epoch"],
        history[f"val_{metric}"],
        "-",
        lw=2,
        color=VALIDATION_COLOUR,
        label=f"Validation {metric}",
    )
    best = best_epoch(history)
    ax.axvline(
        best,
        ls="--",
        lw=1,
        color=BEST_COLOUR,
        gid="best-epoch",
        label=f"Best epoch ({best}, lowest validation loss)",
    )
    ax.set_title(f"{experiment}: training and validation {metric}")
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig


def comparison_figure(histories: dict[str, pd.DataFrame], test_accuracy: dict[str, float]):
    """Validation accuracy of every experiment on one chart; test accuracy in the legend."""
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    colours = plt.get_cmap("tab10").colors
    for i, (name, history) in enumerate(histories.items()):
        label = f"{name} (test accuracy {test_accuracy[name]:.3f})"
        ax.plot(history["epoch"], history["val_accuracy"], lw=2, color=colours[i % 10], label=label)
    ax.set_title("Validation accuracy per epoch")
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def confusion_figure(metrics: dict):
    """Test-set confusion matrix of the last and the best checkpoint, counts in each cell."""
    classes = metrics["classes"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
    for ax, checkpoint in zip(axes, ("last", "best")):
        matrix = np.array(metrics[checkpoint]["confusion_matrix"])
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(int(matrix.max()), 1))
        for (row, col), count in np.ndenumerate(matrix):
            dark = count > matrix.max() / 2
            ax.text(
                col,
                row,
                str(count),
                ha="center",
                va="center",
                fontsize=14,
                color="white" if dark else "black",
            )
        ax.set_xticks([0, 1], [f"predicted {c}" for c in classes])
        ax.set_yticks([0, 1], [f"true {c}" for c in classes])
        accuracy = metrics[checkpoint]["accuracy"]
        ax.set_title(f"{checkpoint} checkpoint (accuracy {accuracy:.3f})")
    fig.suptitle(f"{metrics['experiment']}: test-set confusion matrix")
    return fig


def most_confident_errors(labels: np.ndarray, probabilities: np.ndarray, count: int) -> np.ndarray:
    """Indices of wrong predictions, most confident first."""
    wrong = np.flatnonzero((probabilities > 0.5).astype(int) != labels.astype(int))
    confidence = np.abs(probabilities[wrong] - 0.5)
    return wrong[np.argsort(-confidence, kind="mergesort")][:count]


def errors_figure(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes,
    experiment: str,
    count: int = 16,
):
    """A grid of the test images the model got most confidently wrong."""
    chosen = most_confident_errors(labels, probabilities, count)
    columns = 4
    rows = max(1, int(np.ceil(len(chosen) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(axes).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, index in zip(axes, chosen):
        ax.imshow(images[index])
        ax.set_title(
            f"true: {classes[int(labels[index])]}\nP({classes[1]}) = {probabilities[index]:.3f}", fontsize=9
        )
    if len(chosen) == 0:
        axes[0].text(0.5, 0.5, "no wrong predictions", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(f"{experiment}: most confidently wrong test images (last checkpoint)")
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write through a temporary file, so a killed job never leaves a half-written PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)


def load_metrics(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())
