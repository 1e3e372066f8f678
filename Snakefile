# Train small convnets from scratch on image folders: Deep Learning with Python, section 5.2.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# A GPU count is per machine: profiles/default's gpu: 1 caps the training and evaluation jobs that
# run on one workstation at a time, while a cluster's submissions (each asking SLURM for its own
# GPU) are not tallied against it and run side by side. As a global resource (Snakemake's default
# for gpu), the default profile, which --profile profiles/slurm still loads, would let one GPU job
# at a time into the whole cluster's queue.
resource_scopes:
    gpu="local",


report: "workflow/report/workflow.rst"


# common.smk validates the config against config/config.schema.yaml and derives every path.
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/predict.smk"


rule all:
    default_target: True
    input:
        final_targets(),
