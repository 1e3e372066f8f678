"""Standard library only (PyYAML and jsonschema for the config): what Snakemake imports at parse
time, and what every job may use."""
