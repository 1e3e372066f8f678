# Test-set evaluation of every experiment's last and best model, and the table users compare.


rule evaluate:
    input:
        last=f"{MODELS}/{{experiment}}.h5",
        best=f"{MODELS}/{{experiment}}_best.h5",
        test=cache_for("test"),
    output:
        metrics=f"{METRICS}/{{experiment}}.json",
        predictions=f"{METRICS}/{{experiment}}_predictions.csv",
    log:
        f"{LOGS}/evaluate/{{experiment}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{experiment}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/evaluate.py"


rule metrics_table:
    input:
        expand(f"{METRICS}/{{experiment}}.json", experiment=EXPERIMENTS),
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
        "../../envs/train.yaml"
    script:
        "../scripts/metrics_table.py"
