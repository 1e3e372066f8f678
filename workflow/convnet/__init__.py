"""Train small convnets from scratch on image folders: the logic behind the Snakemake workflow.

Scripts under ``workflow/scripts`` stay thin and call into this package; tests and benchmarks
import it directly.
"""

import os
import sys

# TensorFlow's C++ start-up chatter (no CUDA driver, CPU features) buries the workflow's own log lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _job_log() -> str | None:
    """The log file of the Snakemake job whose script is importing the package, if it is one:
    Snakemake defines ``snakemake`` in the script before the script's own code runs."""
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    if type(job).__name__ != "Snakemake":  # not the package of that name, imported by a process
        return None
    logs = getattr(job, "log", None)
    return str(logs[0]) if logs else None


# A job's standard error goes to its log before anything loads TensorFlow: its start-up lines (which
# TF_CPP_MIN_LOG_LEVEL does not silence: they come before absl's logging is set up) stay out of the
# terminal, which shows the workflow's own progress (convnet.core.logs).
_JOB_LOG = _job_log()
if _JOB_LOG is not None:
    from .core.logs import capture_stderr

    try:
        capture_stderr(_JOB_LOG)
    except OSError:  # a log that cannot be opened (a full disk): the job's own error says why
        pass

__version__ = "0.1.0"
