# Test-set evaluation of every run's last and best model (with the heatmaps of the last one's most
# confident errors), and the tables users compare: every run, and each experiment's mean and
# spread over its seeds.


rule evaluate:
    input:
        last=f"{MODELS}/{RUN}.h5",
        best=f"{MODELS}/{RUN}_best.h5",
        test=cache_for("test"),
    output:
        metrics=f"{METRICS}/{RUN}.json",
        predictions=f"{METRICS}/{RUN}_predictions.csv",
        # Grad-CAM over the test images the errors sheet shows (drawn with heatmaps: true)
        heatmaps=f"{METRICS}/{RUN}_errors_heatmaps.json",
    log:
        f"{LOGS}/evaluate/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{RUN}.tsv"
    conda:
        TRAIN_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    params:
        settings=evaluation_params,
    script:
        "../scripts/evaluate.py"


rule experiment_summary:
    input:
        metrics=seeds_of_experiment(f"{METRICS}/{RUN}.json"),
    output:
        report(
            f"{METRICS}/{{experiment}}_summary.csv",
            caption="../report/experiment_summary.rst",
            category="{experiment}",
            subcategory="Test set",
            labels={
                "experiment": "{experiment}",
                "table": "mean and spread over seeds",
            },
        ),
    log:
        f"{LOGS}/experiment_summary/{{experiment}}.log",
    conda:
        "../../envs/tables.yaml"
    script:
        "../scripts/experiment_summary.py"


rule metrics_table:
    input:
        metrics=every_run(f"{METRICS}/{RUN}.json"),
    output:
        report(
            f"{METRICS}/test_metrics.csv",
            caption="../report/test_metrics.rst",
            category="Results",
            labels={"table": "test metrics"},
        ),
    log:
        f"{LOGS}/metrics_table.log",
    conda:
        "../../envs/tables.yaml"
    script:
        "../scripts/metrics_table.py"
