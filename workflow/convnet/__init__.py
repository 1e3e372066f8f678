"""Train small convnets from scratch on image folders: the logic behind the Snakemake workflow.

Scripts under ``workflow/scripts`` stay thin and call into this package; tests and benchmarks
import it directly.
"""

__version__ = "0.1.0"
