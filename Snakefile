# A clone runs the workflow from here (`snakemake --cores 4`); the workflow itself is
# workflow/Snakefile, where Snakemake's standardized layout, snakedeploy and module users find it.
include: "workflow/Snakefile"


# An included file's default_target does not carry over to the including one
# (snakemake/snakemake#2056): the clone's default target is the workflow's rule all.
workflow.default_target = "all"
