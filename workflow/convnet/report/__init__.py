"""The plots (envs/plots.yaml): matplotlib and pandas."""
