# Plots: training curves as in the book (the mean over an experiment's seeds), the experiments side
# by side, and per run the confusion matrices, the per-class scores and the test images the model
# got most confidently wrong, with where it looked (Grad-CAM heatmaps, which the evaluation writes).
# The config used goes into the report.


rule plot_history:
    input:
        histories=seeds_of_experiment(f"{HISTORY}/{RUN}.csv"),
    output:
        report(
            f"{PLOTS}/{{experiment}}_{{metric}}.png",
            caption="../report/history.rst",
            category="{experiment}",
            subcategory="Training curves",
            labels={"experiment": "{experiment}", "figure": "{metric}"},
        ),
    log:
        f"{LOGS}/plots/{{experiment}}_{{metric}}.log",
    wildcard_constraints:
        metric="accuracy|loss",
    conda:
        "../../envs/plots.yaml"
    params:
        experiment="{experiment}",
        metric="{metric}",
    script:
        "../scripts/plot_history.py"


rule plot_comparison:
    input:
        histories=every_run(f"{HISTORY}/{RUN}.csv"),
        metrics=every_run(f"{METRICS}/{RUN}.json"),
    output:
        report(
            f"{PLOTS}/comparison.png",
            caption="../report/comparison.rst",
            category="Results",
            labels={"figure": "comparison"},
        ),
    log:
        f"{LOGS}/plots/comparison.log",
    conda:
        "../../envs/plots.yaml"
    params:
        histories=every_run_by_experiment(f"{HISTORY}/{RUN}.csv"),
    script:
        "../scripts/plot_comparison.py"


rule plot_confusion:
    input:
        metrics=f"{METRICS}/{RUN}.json",
    output:
        report(
            f"{PLOTS}/{RUN}_confusion.png",
            caption="../report/confusion.rst",
            category="{experiment}",
            subcategory="Test set",
            labels={
                "experiment": "{experiment}",
                "seed": "{seed}",
                "figure": "confusion matrix",
            },
        ),
    log:
        f"{LOGS}/plots/{RUN}_confusion.log",
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_confusion.py"


rule plot_per_class:
    input:
        metrics=f"{METRICS}/{RUN}.json",
    output:
        report(
            f"{PLOTS}/{RUN}_per_class.png",
            caption="../report/per_class.rst",
            category="{experiment}",
            subcategory="Test set",
            labels={
                "experiment": "{experiment}",
                "seed": "{seed}",
                "figure": "per-class scores",
            },
        ),
    log:
        f"{LOGS}/plots/{RUN}_per_class.log",
    conda:
        "../../envs/plots.yaml"
    script:
        "../scripts/plot_per_class.py"


rule plot_errors:
    input:
        predictions=f"{METRICS}/{RUN}_predictions.csv",
        test=cache_for("test"),
        heatmaps=heatmaps_for(f"{METRICS}/{RUN}_errors_heatmaps.json"),
    output:
        report(
            f"{PLOTS}/{RUN}_errors.png",
            caption="../report/errors.rst",
            category="{experiment}",
            subcategory="Test set",
            labels={
                "experiment": "{experiment}",
                "seed": "{seed}",
                "figure": "confident errors",
            },
        ),
    log:
        f"{LOGS}/plots/{RUN}_errors.log",
    conda:
        "../../envs/plots.yaml"
    params:
        title="{experiment} (seed {seed})",
    script:
        "../scripts/plot_errors.py"


rule config_used:
    output:
        report(
            f"{RESULTS}/report/config.yaml",
            caption="../report/config.rst",
            category="Data and config",
            labels={"file": "config used"},
        ),
    log:
        f"{LOGS}/config_used.log",
    conda:
        "../../envs/tables.yaml"
    params:
        config=config,
    script:
        "../scripts/config_used.py"
