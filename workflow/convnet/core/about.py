"""The report's landing page, about the run it was made from: where the photos came from, the
classes and the images of each split, each experiment's model and training; the book's figures only
beside the book's data. Written when a run of the workflow succeeds (the Snakefile's
``onsuccess:``), in reStructuredText, which Snakemake renders at the top of the report. Standard
library only: it runs in Snakemake's own process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .config import SPLITS
from .experiments import experiment_settings
from .files import atomic_write_text


def is_books_data(data: dict, book: dict) -> bool:
    """Whether ``data`` (a run's data settings) names the book's classes and split sizes, as
    ``book`` (the workflow's own config/config.yaml's data settings) does."""
    return all(data.get(key) == book[key] for key in ("classes", "split"))


def source_of(provenance: dict) -> str:
    if provenance.get("source") == "url":
        return f"``{provenance['url']}``"
    if provenance.get("source") == "kaggle":
        return f"the Kaggle competition ``{provenance['kaggle_competition']}``"
    return f"``{Path(provenance['path']).name}``"


def parameters(summary_table: Path) -> int:
    with open(summary_table, newline="") as handle:
        return sum(int(row["params"]) for row in csv.DictReader(handle, delimiter="\t"))


def training(settings: dict, train_images: int) -> str:
    """``30 epochs of 2,000 images``: what one run of the experiment trains on."""
    steps = settings.get("steps_per_epoch")
    per_epoch = steps * settings["batch_size"] if steps else train_images
    return f"{settings['epochs']} epochs of {per_epoch:,} images (batch {settings['batch_size']})"


def landing_page(
    data: dict, book: dict, provenance: dict, experiments: dict[str, dict], summaries: dict[str, Path]
) -> str:
    """The page's reStructuredText. ``data``: the config's data settings, ``book``: the book's (the
    workflow's own defaults); ``experiments``: each experiment's settings (with its seeds);
    ``summaries``: each experiment's model summary table."""
    images = provenance["images"]
    counts = {split: sum(images[split].values()) for split in SPLITS}
    classes = provenance["classes"]
    lines = [
        f"Convnets trained on {source_of(provenance)}: {len(classes)} classes ({', '.join(classes)}), "
        f"{counts['train']:,} training, {counts['validation']:,} validation and {counts['test']:,} test "
        "images. Each model is checked on the validation images after every epoch and tested once on "
        "the test images.",
        "",
        "Per class (training / validation / test): "
        + "; ".join(f"{c} {' / '.join(str(images[s].get(c, 0)) for s in SPLITS)}" for c in classes)
        + ".",
        "",
        "Experiments in this run:",
        "",
    ]
    for name, settings in experiments.items():
        height, width = settings["image_size"]
        seeds = settings["seeds"]
        lines.append(
            f"- **{name}**: {parameters(summaries[name]):,} parameters, {height}x{width} images, "
            f"{training(settings, counts['train'])}, seed{'s' if len(seeds) > 1 else ''} "
            f"{', '.join(str(seed) for seed in seeds)}."
        )
    lines.append("")
    if is_books_data(data, book):
        lines += [
            "These are the book's sizes (*Deep Learning with Python*, 5.2: Dogs vs. Cats, 1,000 / 500 / "
            "500 photos per class). The book reports a last-epoch validation accuracy of about 0.72 "
            "without augmentation and 0.82-0.84 with augmentation and dropout.",
            "",
        ]
    lines += [
        "**Results** holds the test metrics of every experiment and the validation curves side by "
        "side; each experiment's own category holds its training curves, confusion matrices, the test "
        "images it got most confidently wrong and its run cards; **Data and config** holds the dataset "
        "provenance, the files dropped as unusable, and the exact config of this run.",
    ]
    return "\n".join(lines) + "\n"


def write_landing_page(
    config: dict, book: dict, provenance: Path, summaries: dict[str, Path], page: Path
) -> bool:
    """Write the page once the data are split and every experiment's model is checked (a run that
    built only some targets may not have them yet); whether it was written. ``book``: the data
    settings of the workflow's own config/config.yaml, the book's."""
    if not provenance.is_file() or not all(path.is_file() for path in summaries.values()):
        return False
    experiments = {name: experiment_settings(config, name) for name in summaries}
    text = landing_page(config["data"], book, json.loads(provenance.read_text()), experiments, summaries)
    atomic_write_text(page, text)
    return True
