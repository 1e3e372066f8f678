# Train small convnets from scratch on image folders: Deep Learning with Python, section 5.2.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


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
