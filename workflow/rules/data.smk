# Data: download (on the login node), then extract safely, drop corrupt images and split.


# localrule: True, not a global localrules: list, which a host workflow's `use rule * from
# convnet as convnet_*` does not carry over to the renamed rules.
if config["data"]["source"] != "local":

    rule download_data:
        output:
            downloaded_archive(),
        log:
            f"{LOGS}/download_data.log",
        localrule: True
        conda:
            "../../envs/data.yaml"
        params:
            data=download_params(),
        script:
            "../scripts/download_data.py"


# A pretrained base's weights: data too, fetched once on the machine that runs Snakemake (login
# nodes have the internet), never at training time on a compute node.
rule download_weights:
    output:
        f"{WEIGHTS}/{{base}}.h5",
    log:
        f"{LOGS}/download_weights/{{base}}.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        url=lambda wildcards: config["pretrained"]["weights"][wildcards.base]["url"],
    script:
        "../scripts/download_weights.py"


rule split_data:
    input:
        source=source_archive(),
    output:
        train=directory(f"{DATA}/train"),
        validation=directory(f"{DATA}/validation"),
        test=directory(f"{DATA}/test"),
        dropped=report(
            f"{DATA}/dropped.tsv",
            caption="../report/dropped.rst",
            category="Data and config",
            labels={"file": "dropped images"},
        ),
        provenance=report(
            f"{DATA}/provenance.json",
            caption="../report/provenance.rst",
            category="Data and config",
            labels={"file": "dataset provenance"},
        ),
        manifest=MANIFEST,
    log:
        f"{LOGS}/split_data.log",
    benchmark:
        f"{BENCHMARKS}/split_data.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        data=split_params(),
    script:
        "../scripts/split_data.py"
