# Predictions on new photos: every folder or archive the config's predict names, classified by a
# run's last-epoch model, and a contact sheet of the photos with their labels.


rule predict:
    input:
        model=f"{MODELS}/{RUN}.h5",
        photos=photos_to_predict,
    output:
        f"{PREDICTIONS}/{RUN}/{{name}}.csv",
    log:
        f"{LOGS}/predict/{RUN}/{{name}}.log",
    benchmark:
        f"{BENCHMARKS}/predict/{RUN}/{{name}}.tsv"
    conda:
        TRAIN_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    params:
        image_size=lambda wildcards: experiment_params(wildcards)["image_size"],
        interpolation=lambda wildcards: experiment_params(wildcards)[
            "resize_interpolation"
        ],
        classes=list(config["data"]["classes"]),
    script:
        "../scripts/predict.py"


rule plot_predictions:
    input:
        predictions=f"{PREDICTIONS}/{RUN}/{{name}}.csv",
        photos=photos_to_predict,
    output:
        report(
            f"{PREDICTIONS}/{RUN}/{{name}}.png",
            caption="../report/predictions.rst",
            category="Predictions",
            labels={
                "experiment": "{experiment}",
                "seed": "{seed}",
                "photos": "{name}",
            },
        ),
    log:
        f"{LOGS}/plots/predictions/{RUN}/{{name}}.log",
    conda:
        "../../envs/plots.yaml"
    params:
        image_size=lambda wildcards: experiment_params(wildcards)["image_size"],
        interpolation=lambda wildcards: experiment_params(wildcards)[
            "resize_interpolation"
        ],
        classes=list(config["data"]["classes"]),
        title="{experiment} (seed {seed})",
    script:
        "../scripts/plot_predictions.py"
