"""The workflow's figures: training curves as in the book, the experiments side by side, confusion
matrices and the test images the model got most confidently wrong."""

from __future__ import annotations

import os
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only: no display on cluster nodes or CI

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..core import records  # noqa: E402
from ..core.files import atomic_path  # noqa: E402
from ..core.sweeps import WINNER  # noqa: E402
from ..arrays.metrics import most_confident_errors, predicted_classes  # noqa: E402
from ..arrays.photos import sheet_photos  # noqa: E402

# Colour-blind-safe pair (Okabe-Ito) for training vs validation; markers tell them apart in grey too.
TRAIN_COLOUR, VALIDATION_COLOUR, BEST_COLOUR = "#0072B2", "#D55E00", "#555555"
LABELS = {"accuracy": "Accuracy", "loss": "Loss (cross-entropy)"}


def read_history(path: str | os.PathLike) -> pd.DataFrame:
    return pd.DataFrame(records.read_history(path), columns=records.HISTORY_COLUMNS)


def best_epoch(history: pd.DataFrame) -> int:
    """The epoch with the lowest validation loss (the one saved as ``_best.h5``)."""
    return records.best_epoch(history.to_dict("records"))


def seed_statistics(histories: list[pd.DataFrame]) -> pd.DataFrame:
    """Per epoch: the mean, min and max over the seeds' histories of every logged column."""
    if not histories:
        raise ValueError("no histories to combine")
    stacked = pd.concat(histories, ignore_index=True).groupby("epoch")
    columns = [c for c in histories[0].columns if c != "epoch"]
    result = stacked[columns].mean()
    for column in columns:
        result[f"{column}_min"] = stacked[column].min()
        result[f"{column}_max"] = stacked[column].max()
    return result.reset_index()


def seed_range(ax, history: pd.DataFrame, column: str, colour) -> None:
    """Shade ``column`` from its lowest to its highest seed (``seed_statistics`` output)."""
    ax.fill_between(
        history["epoch"],
        history[f"{column}_min"],
        history[f"{column}_max"],
        color=colour,
        alpha=0.15,
        lw=0,
        gid=f"seed-range-{column}",
    )


def history_figure(histories: list[pd.DataFrame], metric: str, experiment: str):
    """Training vs validation ``metric`` per epoch, with the best epoch marked. Several seeds give
    their mean, with the band between the lowest and highest seed."""
    seeds = len(histories)
    history = seed_statistics(histories)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    prefix = "Mean training" if seeds > 1 else "Training"
    ax.plot(history["epoch"], history[metric], "o", ms=4, color=TRAIN_COLOUR, label=f"{prefix} {metric}")
    validation = f"val_{metric}"
    prefix = "Mean validation" if seeds > 1 else "Validation"
    ax.plot(
        history["epoch"], history[validation], "-", lw=2, color=VALIDATION_COLOUR, label=f"{prefix} {metric}"
    )
    if seeds > 1:
        for column, colour in ((metric, TRAIN_COLOUR), (validation, VALIDATION_COLOUR)):
            seed_range(ax, history, column, colour)
    best = best_epoch(history)
    which = "lowest mean validation loss" if seeds > 1 else "lowest validation loss"
    ax.axvline(
        best, ls="--", lw=1, color=BEST_COLOUR, gid="best-epoch", label=f"Best epoch ({best}, {which})"
    )
    title = f"{experiment}: training and validation {metric}"
    if seeds > 1:
        title += f"\n(mean of {seeds} seeds; shaded: lowest to highest seed)"
    ax.set_title(title)
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    return fig


def comparison_figure(histories: dict[str, list[pd.DataFrame]], test_accuracy: dict[str, list[float]]):
    """Validation accuracy of every experiment on one chart (the mean over its seeds); test accuracy
    of the last-epoch models in the legend (mean +- standard deviation over seeds)."""
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    colours = plt.get_cmap("tab10").colors
    for i, (name, runs) in enumerate(histories.items()):
        history = seed_statistics(runs)
        accuracy = test_accuracy[name]
        text = f"{np.mean(accuracy):.3f}"
        if len(accuracy) > 1:
            text += f" +- {np.std(accuracy, ddof=1):.3f}, {len(accuracy)} seeds"
        colour = colours[i % 10]
        ax.plot(
            history["epoch"],
            history["val_accuracy"],
            lw=2,
            color=colour,
            label=f"{name} (test accuracy {text})",
        )
        if len(runs) > 1:
            seed_range(ax, history, "val_accuracy", colour)
    ax.set_title("Validation accuracy per epoch")
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return fig


def confusion_figure(metrics: dict):
    """Test-set confusion matrix of the last and the best checkpoint: each cell's count and its
    share of the true class (the row), coloured by that share so that small classes read as well
    as large ones."""
    classes = metrics["classes"]
    k = len(classes)
    side = max(4.2, 0.75 * k + 2.2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 0.6, side), layout="constrained")
    for ax, checkpoint in zip(axes, ("last", "best")):
        scores = metrics[checkpoint]
        matrix = np.array(scores["confusion_matrix"])
        rows = matrix.sum(axis=1, keepdims=True)
        shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for (row, col), count in np.ndenumerate(matrix):
            ax.text(
                col,
                row,
                f"{count}\n{shares[row, col]:.0%}",
                ha="center",
                va="center",
                fontsize=12 if k <= 3 else 9,
                color="white" if shares[row, col] > 0.5 else "black",
            )
        ticks = list(range(k))
        ax.set_xticks(ticks, classes, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
        ax.set_yticks(ticks, classes)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        title = f"{checkpoint} checkpoint (accuracy {scores['accuracy']:.3f}"
        if scores.get("balanced_accuracy") is not None and k > 2:
            title += f", balanced {scores['balanced_accuracy']:.3f}"
        ax.set_title(title + ")", fontsize=10)
    fig.suptitle(
        f"{metrics['experiment']} (seed {metrics['seed']}): test-set confusion matrix "
        "(count and share of the true class)"
    )
    return fig


def per_class_figure(metrics: dict, checkpoint: str = "last"):
    """Precision, recall and F1 of each class on the test set, the class's test images beside its
    name: where a model fails, not only how often."""
    scores = metrics[checkpoint]["per_class"]
    classes = list(scores)
    x = np.arange(len(classes))
    width = 0.27
    fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * len(classes) + 2.5), 4.3), layout="constrained")
    bars = (("precision", "#0072B2", "//"), ("recall", "#D55E00", ""), ("f1", "#009E73", ".."))
    for offset, (name, colour, hatch) in zip((-width, 0, width), bars):
        values = [scores[c][name] for c in classes]
        ax.bar(x + offset, values, width, label=name if name != "f1" else "F1", color=colour, hatch=hatch)
    ax.set_xticks(x, [f"{c}\n({scores[c]['support']} images)" for c in classes], fontsize=9)
    ax.set_ylim(0, 1.15)  # room above 1 for the legend, clear of the bars
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("score on the test set")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", ncol=3, fontsize=9, frameon=False)
    ax.set_title(
        f"{metrics['experiment']} (seed {metrics['seed']}), {checkpoint} checkpoint: per-class scores "
        f"(macro F1 {metrics[checkpoint]['macro_f1']:.3f})"
    )
    return fig


def overlay_heatmap(ax, image: np.ndarray, heatmap) -> None:
    """A Grad-CAM heatmap (convnet.learn.explain, values in [0, 1] at its feature map's resolution)
    stretched over the image, smoothly, half transparent."""
    height, width = image.shape[:2]
    ax.imshow(
        np.asarray(heatmap, dtype=float),
        cmap="jet",
        alpha=0.4,
        vmin=0,
        vmax=1,
        interpolation="bilinear",
        extent=(-0.5, width - 0.5, height - 0.5, -0.5),
    )


def errors_figure(
    images: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes,
    title: str,
    files=None,
    heatmaps: dict | None = None,
):
    """A grid of the test images the model got most confidently wrong, with the true class, the
    predicted class and its probability. ``probabilities``: (images, classes); ``heatmaps``
    (``records.read_heatmaps`` by file, ``files`` naming the images) drawn over them: where the
    model looked for the class it predicted."""
    chosen = most_confident_errors(labels, probabilities)
    predicted = predicted_classes(probabilities)
    columns = 4
    rows = max(1, int(np.ceil(len(chosen) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(axes).reshape(-1)
    for ax in axes:
        ax.axis("off")
    for ax, index in zip(axes, chosen):
        ax.imshow(images[index])
        if heatmaps:
            overlay_heatmap(ax, images[index], heatmaps[str(files[index])][1])
        guess = int(predicted[index])
        ax.set_title(
            f"true: {classes[int(labels[index])]}\npredicted: {classes[guess]} ({probabilities[index, guess]:.3f})",
            fontsize=9,
        )
    if len(chosen) == 0:
        axes[0].text(0.5, 0.5, "no wrong predictions", ha="center", va="center", transform=axes[0].transAxes)
    where = ", where it looked for the predicted class" if heatmaps else ""
    fig.suptitle(f"{title}: most confidently wrong test images (last checkpoint){where}")
    return fig


def contact_sheet(photos, rows: list[dict], classes, title: str, heatmaps: dict | None = None):
    """New photos with the label the model gave each (and the probability of that label); the
    photos it could not read are counted in the title. The photos of ``sheet_photos``;
    ``heatmaps`` (``records.read_heatmaps``) drawn over them: where the model looked for its label."""
    by_file = {photo.file: row for photo, row in zip(photos, rows)}
    shown = [(photo, by_file[photo.file]) for photo in sheet_photos(photos)]
    unreadable = sum(photo.image is None for photo in photos)
    columns = 6
    grid_rows = max(1, int(np.ceil(len(shown) / columns)))
    fig, axes = plt.subplots(
        grid_rows, columns, figsize=(2.2 * columns, 2.5 * grid_rows + 0.5), layout="constrained"
    )
    axes = np.atleast_1d(axes).reshape(-1)
    for ax in axes:
        ax.axis("off")
    palette = (TRAIN_COLOUR, VALIDATION_COLOUR, *plt.get_cmap("tab10").colors[2:])
    colours = {name: palette[i % len(palette)] for i, name in enumerate(classes)}
    for ax, (photo, row) in zip(axes, shown):
        ax.imshow(photo.image)
        if heatmaps:
            overlay_heatmap(ax, photo.image, heatmaps[photo.file][1])
        label = row["predicted"]
        ax.set_title(
            f"{label} ({float(row[f'probability_{label}']):.2f})\n{os.path.basename(photo.file)[:22]}",
            fontsize=8,
            color=colours.get(label, "black"),
        )
    if not shown:
        axes[0].text(0.5, 0.5, "no readable photos", ha="center", va="center", transform=axes[0].transAxes)
    more = len([p for p in photos if p.image is not None]) - len(shown)
    notes = [f"{len(shown)} shown"] + ([f"{more} more in the CSV"] if more > 0 else [])
    notes += [f"{unreadable} unreadable, reasons in the CSV"] if unreadable else []
    where = ", where it looked for its label" if heatmaps else ""
    fig.suptitle(f"{title}: predictions ({', '.join(notes)}){where}")
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write through a temporary file, so a killed job never leaves a half-written PNG."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)


def leaderboard_figure(table_path: str | os.PathLike, title: str):
    """A sweep's leaderboard (core.sweeps' CSV): each point's mean score over its seeds with the
    lowest and highest seed, best at the top; the winner in the validation colour, points still
    running in grey with what they have so far."""
    board = pd.read_csv(table_path, dtype={"winner": str, "settings": str}, keep_default_na=False)
    board = board.iloc[::-1]  # matplotlib draws the first row at the bottom
    mean = pd.to_numeric(board["score_mean"], errors="coerce")
    low = pd.to_numeric(board["score_min"], errors="coerce")
    high = pd.to_numeric(board["score_max"], errors="coerce")
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.45 * len(board)), layout="constrained")
    for y, (_, row) in enumerate(board.iterrows()):
        complete = row["seeds_finished"] == row["seeds"]
        colour = VALIDATION_COLOUR if row["winner"] == WINNER else (TRAIN_COLOUR if complete else "0.6")
        if not np.isnan(mean.iloc[y]):
            ax.errorbar(
                mean.iloc[y],
                y,
                xerr=[[mean.iloc[y] - low.iloc[y]], [high.iloc[y] - mean.iloc[y]]],
                fmt="o",
                color=colour,
                capsize=3,
            )
        note = f"{row['seeds_finished']}/{row['seeds']} seeds"
        note += f", {row['minutes_per_run']} min/run" if row["minutes_per_run"] != "" else ""
        note += f", {row['winner']}" if row["winner"] else ""
        note += ", test read" if row["test_read"] else ""
        ax.annotate(note, (1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.set_yticks(range(len(board)), board["settings"])
    ax.set_xlabel("score (mean over seeds; bars: lowest to highest seed)")
    # the rule, a margin included, is long: over the whole figure, wrapped
    fig.suptitle(textwrap.fill(title, 100), fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return fig
