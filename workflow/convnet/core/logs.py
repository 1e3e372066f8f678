"""Logging for workflow scripts: everything to the rule's ``log:`` file; to the terminal only what a
person running the workflow wants to see (a training's progress, the workflow's warnings and
errors); one clear line (never a traceback) for the user's mistakes and for a full disk.

A job's script imports the package first, and ``convnet/__init__`` then sends the process's
standard error (file descriptor 2) to the job's log with ``capture_stderr``: TensorFlow's and XLA's
start-up lines, written from C++ as TensorFlow loads, land in the log instead of the terminal, as
do library warnings and tracebacks. ``CONSOLE`` keeps the terminal for the lines meant for it."""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable

from .errors import ConvnetError, DiskFullError
from .files import is_disk_full

FORMAT = "%(asctime)s %(levelname)s %(message)s"
# An error line of FORMAT. Not any line with " ERROR " in it: TensorFlow's C++ lines in the same
# log (``E0000 ... failed call to cuInit: ... UNKNOWN ERROR (303)`` on a GPU build without a GPU)
# have that too.
ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR (.*)$")


def error_messages(text: str) -> list[str]:
    """The messages of a job log's error lines (FORMAT), in order."""
    return [match.group(1) for match in map(ERROR_LINE.match, text.splitlines()) if match]


# Where the terminal lines go: the process's standard error until capture_stderr moves that to the
# job's log, then a copy of the terminal it had.
CONSOLE = sys.stderr
# A log record with this attribute set (``log.info(..., extra={SHOW: True})``) goes to the
# terminal too: a training's first line and its epochs.
SHOW = "show_on_terminal"


def capture_stderr(log_path: str | Path) -> None:
    """Send this process's standard error, from C++ as from Python, to the end of ``log_path``, and
    keep the terminal as ``CONSOLE``."""
    global CONSOLE
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    CONSOLE = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    sys.stderr.flush()
    os.dup2(log_fd, 2)
    os.close(log_fd)


class TerminalFormat(logging.Formatter):
    """A marked line as it is; a warning or an error with its level in front."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        return message if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {message}"


def for_the_terminal(record: logging.LogRecord) -> bool:
    """The workflow's own warnings and errors, and the lines it marks with ``SHOW``."""
    own = record.name == "convnet" or record.name.startswith("convnet.")
    return own and (record.levelno >= logging.WARNING or getattr(record, SHOW, False))


def run_logged(
    log_path: str | Path | None, main: Callable[[], None], attempts: str | Path | None = None
) -> None:
    """Run ``main`` with logging set up; a ConvnetError exits 1 with its one-line message.

    ``attempts``: a log kept outside the job's outputs across its failed attempts (Snakemake
    deletes a job's log before it runs the job again). Its lines are copied into the rule's log
    first, so a resumed training's log shows every epoch and every interruption; it is removed
    once ``main`` succeeds."""
    terminal = logging.StreamHandler(CONSOLE)
    terminal.addFilter(for_the_terminal)
    terminal.setFormatter(TerminalFormat())
    handlers: list[logging.Handler] = [terminal]
    attempts = Path(attempts) if attempts else None
    if log_path:
        log_path = Path(log_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        earlier = attempts.read_text(encoding="utf-8") if attempts and attempts.is_file() else ""
        # before this attempt's own lines (what its start-up wrote to the log: capture_stderr)
        started = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
        log_path.write_text(earlier + started, encoding="utf-8")
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
