# Predictions on new photos: every folder or archive the config's predict names, classified by a
# run's last-epoch model, and a contact sheet of the photos with their labels and where the model
# looked (Grad-CAM heatmaps, config heatmaps). Image size, resize and class names come from the
# model's run card, as for python -m convnet.predict.


rule predict:
    input:
        model=f"{MODELS}/{RUN}.h5",
        photos=photos_to_predict,
    output:
        table=f"{PREDICTIONS}/{RUN}/{{name}}.csv",
        # Grad-CAM over the photos the contact sheet shows (drawn with heatmaps: true)
        heatmaps=f"{PREDICTIONS}/{RUN}/{{name}}_heatmaps.json",
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
    script:
        "../scripts/predict.py"


rule plot_predictions:
    input:
        predictions=f"{PREDICTIONS}/{RUN}/{{name}}.csv",
        photos=photos_to_predict,
        heatmaps=heatmaps_for(f"{PREDICTIONS}/{RUN}/{{name}}_heatmaps.json"),
        # image size, resize and class names: as the model was trained
        run_card=f"{MODELS}/{RUN}.json",
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
        title="{experiment} (seed {seed})",
    script:
        "../scripts/plot_predictions.py"
