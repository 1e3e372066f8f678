"""A run reads as its steps: ``train_experiment`` is a short orchestration of named steps, and the
run card is one typed record (``convnet.core.runcard.RunCard``) with one writer and one reader that
every consumer uses."""

from __future__ import annotations

import inspect
import re

from conftest import ROOT

from convnet.learn import train
from convnet.core.runcard import H5_ATTRIBUTE, RunCard

WORKFLOW = ROOT / "workflow"


def test_train_experiment_is_at_most_40_lines_of_orchestration():
    lines = inspect.getsource(train.train_experiment).splitlines()
    assert len(lines) <= 40, (
        f"convnet.learn.train.train_experiment is {len(lines)} lines: move a step into a function"
    )


def code_files():
    return sorted(
        p for p in [*WORKFLOW.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")] if p.name != "runcard.py"
    )


def test_only_the_run_card_module_reads_or_writes_a_card():
    """No other module or script parses a card's JSON or touches the .h5 attribute: they call
    RunCard.read (and the training, make_run_card and RunCard.write)."""
    offenders = []
    for path in code_files():
        text = path.read_text()
        if H5_ATTRIBUTE in text or re.search(r"json\.loads?\([^)]*run_card", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"{offenders} read a run card without convnet.core.runcard.RunCard"


def test_every_consumer_of_a_card_uses_the_record():
    consumers = {  # learn/predict reads its card through learn.export.card_of
        "benchmarks/results_tables.py",
        "workflow/scripts/plot_predictions.py",
        "workflow/convnet/learn/train.py",
        "workflow/convnet/learn/export.py",
    }
    for relative in consumers:
        assert "RunCard" in (ROOT / relative).read_text(), relative


def test_a_card_is_the_same_record_after_a_round_trip(tmp_path):
    card = RunCard(
        experiment="augmented",
        seed=2,
        settings={"image_size": [150, 150], "resize_interpolation": "nearest", "seed": 2},
        precision="float32",
        data={"classes": ["cats", "dogs"]},
        training={"epochs": 3},
        hardware={"backend": "tensorflow"},
        software={"python": "3.11"},
        project=None,
    )
    card.write(tmp_path / "card.json")
    assert RunCard.read(tmp_path / "card.json") == card
    assert "checkpoint" not in (tmp_path / "card.json").read_text()  # the card beside both models
    assert card.image_size == (150, 150) and card.classes == ["cats", "dogs"]
    assert card.for_checkpoint("best").as_dict()["checkpoint"] == "best"
