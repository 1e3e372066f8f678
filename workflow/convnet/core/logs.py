"""Logging for workflow scripts: to the rule's ``log:`` file and to the console, and one clear line
(never a traceback) for the user's mistakes and for a full disk."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Callable

from .errors import ConvnetError, DiskFullError
from .files import is_disk_full

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def run_logged(
    log_path: str | Path | None, main: Callable[[], None], attempts: str | Path | None = None
) -> None:
    """Run ``main`` with logging set up; a ConvnetError exits 1 with its one-line message.

    ``attempts``: a log kept outside the job's outputs across its failed attempts (Snakemake
    deletes a job's log before it runs the job again). Its lines are copied into the rule's log
    first, so a resumed training's log shows every epoch and every interruption; it is removed
    once ``main`` succeeds."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    attempts = Path(attempts) if attempts else None
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        earlier = attempts.read_text(encoding="utf-8") if attempts and attempts.is_file() else ""
        Path(log_path).write_text(earlier, encoding="utf-8")
        handlers.append(logging.FileHandler(log_path, mode="a", encoding="utf-8"))
    if attempts:
        attempts.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(attempts, mode="a", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    # a log file on a full disk must not print a traceback for every line: the console keeps them
    logging.raiseExceptions = False
    try:
        main()
    except ConvnetError as exc:
        logging.getLogger("convnet").error("%s", exc)
        logging.shutdown()
        sys.exit(1)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        # a writer that is not the workflow's own (TensorFlow's summary writer, a log file): the
        # folder of the file it names, else the log's, which lies in the same results tree
        named = getattr(exc, "filename", None) or _file_in_message(str(exc))
        folder = Path(named).parent if named else Path(log_path or ".").parent
        logging.getLogger("convnet").error("%s", DiskFullError(folder))
        logging.shutdown()
        sys.exit(1)
    if attempts:
        logging.getLogger().removeHandler(handlers[-1])
        handlers[-1].close()
        attempts.unlink(missing_ok=True)


def _file_in_message(message: str) -> str | None:
    """The file a library's error names before its "No space left on device" (TensorFlow: "...}}
    results/tensorboard/.../events.out.tfevents...; No space left on device")."""
    found = re.search(r"(\S+?);? No space left on device", message)
    return found.group(1) if found else None
