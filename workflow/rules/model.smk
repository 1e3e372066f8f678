# Models: the per-experiment summary check that every training waits for, and training itself.


rule cache_images:
    input:
        manifest=MANIFEST,
        # the classes in label order (data.classes may be auto: the folders found)
        provenance=f"{DATA}/provenance.json",
        images=f"{DATA}/{{split}}",
    output:
        f"{CACHE}/{{size}}-{{resize}}/{{split}}.npz",
    log:
        f"{LOGS}/cache_images/{{size}}-{{resize}}_{{split}}.log",
    benchmark:
        f"{BENCHMARKS}/cache_images/{{size}}-{{resize}}_{{split}}.tsv"
    conda:
        TRAIN_ENV
    threads: 4
    resources:
        mem_mb=4000,
    params:
        exif_orientation=config["data"]["exif_orientation"],
    script:
        "../scripts/cache_images.py"


rule model_summary:
    input:
        # data.classes: auto waits for the split to count the classes (the head: one sigmoid unit
        # for two, a softmax for more); named classes are counted here, before any data
        provenance=classes_found_by_split(),
    output:
        text=f"{MODELS}/{{experiment}}_summary.txt",
        table=f"{MODELS}/{{experiment}}_summary.tsv",
    log:
        f"{LOGS}/model_summary/{{experiment}}.log",
    conda:
        TRAIN_ENV
    params:
        settings=architecture_params,
        num_classes=named_class_count(),
    script:
        "../scripts/model_summary.py"


rule train:
    input:
        summary=model_check,
        train=cache_for("train"),
        validation=cache_for("validation"),
        # for the run card: which archive and which split the model saw
        manifest=MANIFEST,
        provenance=f"{DATA}/provenance.json",
        base_weights=base_weights,
        init_model=init_model,
    output:
        last=f"{MODELS}/{RUN}.h5",
        best=f"{MODELS}/{RUN}_best.h5",
        # the same models in Keras 3's native format (convnet.learn.export.native_path)
        last_native=f"{MODELS}/{RUN}.keras",
        best_native=f"{MODELS}/{RUN}_best.keras",
        history=f"{HISTORY}/{RUN}.csv",
        run_card=report(
            f"{MODELS}/{RUN}.json",
            caption="../report/run_card.rst",
            category="{experiment}",
            subcategory="Run cards",
            labels={
                "experiment": "{experiment}",
                "seed": "{seed}",
                "file": "run card",
            },
        ),
    log:
        f"{LOGS}/train/{RUN}.log",
    benchmark:
        f"{BENCHMARKS}/train/{RUN}.tsv"
    retries: 2
    conda:
        TRAIN_ENV
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=480,
    params:
        settings=run_params,
        # Outside the declared outputs: Snakemake deletes those when a job fails.
        checkpoint_dir=host_path(f"{CHECKPOINTS}/{RUN}"),
        tensorboard_dir=host_path(f"{TENSORBOARD}/{RUN}"),
    script:
        "../scripts/train.py"
