"""Train small convnets from scratch on image folders: the logic behind the Snakemake workflow.

Scripts under ``workflow/scripts`` stay thin and call into this package; tests and benchmarks
import it directly.
"""

import os

# TensorFlow's C++ start-up chatter (no CUDA driver, CPU features) buries the workflow's own log lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
