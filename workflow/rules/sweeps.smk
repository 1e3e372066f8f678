# Sweeps: every grid point and seed is a training job (rules/model.smk, the point's settings from
# SETTINGS); the leaderboard ranks the points on validation by the sweep's rule once all have
# finished, and only then is the winner's test set read (a checkpoint: which runs to evaluate is
# known after the ranking). `snakemake sweep` builds every sweep; while one runs,
# `snakemake --nolock results/sweeps/{sweep}/leaderboard_so_far.png` ranks what has finished.


rule sweep:
    input:
        sweep_targets(),
    localrule: True


checkpoint sweep_leaderboard:
    input:
        histories=sweep_histories,
    output:
        table=report(
            f"{SWEEP_RESULTS}/{{sweep}}/leaderboard.csv",
            caption="../report/leaderboard.rst",
            category="Sweep {sweep}",
            labels={"sweep": "{sweep}", "table": "leaderboard"},
        ),
        winner=f"{SWEEP_RESULTS}/{{sweep}}/winner.json",
    log:
        f"{LOGS}/sweeps/{{sweep}}/leaderboard.log",
    localrule: True
    conda:
        "../../envs/tables.yaml"
    params:
        sweep=sweep_params,
        tested=tested_points,
    script:
        "../scripts/sweep_leaderboard.py"


rule sweep_leaderboard_so_far:
    input:
        histories=finished_sweep_histories,
    output:
        table=f"{SWEEP_RESULTS}/{{sweep}}/leaderboard_so_far.csv",
    log:
        f"{LOGS}/sweeps/{{sweep}}/leaderboard_so_far.log",
    localrule: True
    conda:
        "../../envs/tables.yaml"
    params:
        sweep=sweep_params,
        tested=tested_points,
        # written again when more runs have finished
        finished=finished_sweep_histories,
    script:
        "../scripts/sweep_leaderboard.py"


rule plot_sweep:
    input:
        f"{SWEEP_RESULTS}/{{sweep}}/{{board}}.csv",
    output:
        report(
            f"{SWEEP_RESULTS}/{{sweep}}/{{board}}.png",
            caption="../report/leaderboard.rst",
            category="Sweep {sweep}",
            labels={"sweep": "{sweep}", "figure": "{board}"},
        ),
    log:
        f"{LOGS}/sweeps/{{sweep}}/{{board}}_plot.log",
    wildcard_constraints:
        board="leaderboard|leaderboard_so_far",
    conda:
        "../../envs/plots.yaml"
    params:
        title=lambda wildcards: sweep_title(wildcards.sweep),
    script:
        "../scripts/plot_sweep.py"


rule sweep_winner:
    input:
        winner=f"{SWEEP_RESULTS}/{{sweep}}/winner.json",
        metrics=winner_metrics,
    output:
        report(
            f"{SWEEP_RESULTS}/{{sweep}}/winner_test.json",
            caption="../report/winner_test.rst",
            category="Sweep {sweep}",
            labels={"sweep": "{sweep}", "file": "the winner's test metrics"},
        ),
    log:
        f"{LOGS}/sweeps/{{sweep}}/winner_test.log",
    localrule: True
    conda:
        "../../envs/tables.yaml"
    script:
        "../scripts/sweep_winner.py"
