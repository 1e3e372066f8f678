"""Logging for workflow scripts: to the rule's ``log:`` file and to the console, and one clear line
(never a traceback) for the user's mistakes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

from .errors import ConvnetError

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def run_logged(log_path: str | Path | None, main: Callable[[], None], append: bool = False) -> None:
    """Run ``main`` with logging set up; a ConvnetError exits 1 with its one-line message.

    ``append`` keeps the lines of an earlier, interrupted attempt (training resumes)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="a" if append else "w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format=FORMAT, handlers=handlers, force=True)
    try:
        main()
    except ConvnetError as exc:
        logging.getLogger("convnet").error("%s", exc)
        logging.shutdown()
        sys.exit(1)
