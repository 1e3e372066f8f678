"""The model-summary check: write the summary, then fail before training if the model is not the one
the config expects."""

from __future__ import annotations

import logging
from pathlib import Path

from ..core.files import atomic_write_table, atomic_write_text
from .model import check_summary, documented_base_check, model_from_settings, summary_rows, summary_text
from ..core.settings import ModelSettings

log = logging.getLogger(__name__)


def write_model_summary(
    experiment: str,
    settings: ModelSettings | dict,
    text_path: Path,
    table_path: Path,
    num_classes: int = 2,
) -> list[dict]:
    """Build the experiment's model for ``num_classes`` (the split's classes), write its summary
    and check it against ``expect`` (and a pretrained base against Keras's documented size)."""
    settings = settings if isinstance(settings, ModelSettings) else ModelSettings.of(settings)
    settings = settings.replace(num_classes=num_classes)
    model = model_from_settings(settings, experiment)
    rows = summary_rows(model)
    check_summary(rows, settings.expect, experiment, num_classes)
    text = summary_text(model)
    if settings.base is not None:  # the base is the one Keras documents
        text += documented_base_check(settings.base.name) + "\n"
    atomic_write_text(text_path, text)
    atomic_write_table(table_path, list(rows[0]), rows, delimiter="\t")
    log.info(
        "experiment %s: %s parameters; matches the config's expectations",
        experiment,
        f"{model.count_params():,}",
    )
    return rows
