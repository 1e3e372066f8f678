"""A job's log across attempts: Snakemake deletes the rule's log before it reruns a failed job, so a
resumed training kept only its last attempt's lines (issue 16)."""

from __future__ import annotations

import logging

import pytest

from convnet.core.errors import ConvnetError
from convnet.core.logs import run_logged


@pytest.fixture(autouse=True)
def _restore_logging():
    """run_logged configures the root logger, as a script's process should; give it back."""
    root = logging.getLogger()
    handlers, level, raise_exceptions = root.handlers[:], root.level, logging.raiseExceptions
    yield
    logging.raiseExceptions = raise_exceptions
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_rerun_jobs_log_keeps_the_earlier_attempts_lines(tmp_path):
    log, attempts = tmp_path / "logs" / "train.log", tmp_path / "checkpoints" / "seed1.log"

    def killed():
        logging.getLogger("convnet").info("epoch 1/3")
        raise KeyboardInterrupt  # the job dies without cleaning up

    with pytest.raises(KeyboardInterrupt):
        run_logged(log, killed, attempts=attempts)
    log.unlink()  # what Snakemake does before it runs the job again

    def resumed():
        logging.getLogger("convnet").info("resuming after epoch 1")
        logging.getLogger("convnet").info("epoch 2/3")

    run_logged(log, resumed, attempts=attempts)
    lines = log.read_text().splitlines()
    assert [line.split(" INFO ")[1] for line in lines] == ["epoch 1/3", "resuming after epoch 1", "epoch 2/3"]
    assert not attempts.exists()  # done: the next forced run starts a fresh log


def test_a_clear_error_is_one_line_in_the_log_and_exit_1(tmp_path):
    log = tmp_path / "x.log"

    def bad():
        raise ConvnetError("data.path 'x' does not exist: fix the path")

    with pytest.raises(SystemExit) as info:
        run_logged(log, bad)
    assert info.value.code == 1
    assert log.read_text().strip().endswith("ERROR data.path 'x' does not exist: fix the path")


@pytest.mark.parametrize(
    "error, folder",
    [
        (OSError(28, "No space left on device", "results/plots/x.png"), "results/plots"),
        # TensorFlow's summary writer names its file only in the message
        (
            RuntimeError(
                "{{node CreateSummaryFileWriter}} results/tensorboard/a/events.v2; No space left on device"
            ),
            "results/tensorboard/a",
        ),
        (OSError(122, "Disk quota exceeded"), "logs"),  # nothing named: the log's folder
    ],
)
def test_a_full_disk_anywhere_is_one_line_naming_a_folder(tmp_path, monkeypatch, error, folder):
    monkeypatch.chdir(tmp_path)

    def full():
        raise error

    with pytest.raises(SystemExit) as info:
        run_logged("logs/job.log", full)
    assert info.value.code == 1
    text = (tmp_path / "logs" / "job.log").read_text()
    assert "Traceback" not in text and len(text.strip().splitlines()) == 1
    assert text.strip().split(" ERROR ", 1)[1].startswith(f"{folder}: no space left on its disk")
