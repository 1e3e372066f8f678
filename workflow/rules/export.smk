# Exports: a run's last-epoch model as a TensorFlow SavedModel, ONNX and LiteRT, each checked against
# the Keras model (convnet.learn.export). Not part of rule all: `snakemake export` exports every run,
# `snakemake results/exports/{experiment}/seed{N}/model.onnx` one.


rule export:
    input:
        every_run(f"{EXPORTS}/{RUN}/check.json"),
    localrule: True


rule export_model:
    input:
        model=f"{MODELS}/{RUN}.keras",
        # the images the exports are checked on
        validation=cache_for("validation"),
    output:
        # the names convnet.learn.export.EXPORT_FORMATS writes
        saved_model=directory(f"{EXPORTS}/{RUN}/saved_model"),
        onnx=f"{EXPORTS}/{RUN}/model.onnx",
        litert=f"{EXPORTS}/{RUN}/model.tflite",
        run_card=f"{EXPORTS}/{RUN}/run_card.json",
        check=report(
            f"{EXPORTS}/{RUN}/check.json",
            caption="../report/export_check.rst",
            category="{experiment}",
            subcategory="Exports",
            labels={
                "experiment": "{experiment}",
                "seed": "{seed}",
                "file": "export check",
            },
        ),
    log:
        f"{LOGS}/export/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/export/{RUN}.tsv"
    conda:
        "../../envs/export.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        check_images=EXPORT_CHECK_IMAGES,
    script:
        "../scripts/export_model.py"
