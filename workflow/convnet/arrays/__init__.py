"""NumPy (with Pillow for decoding): the decoded-image cache, metrics, batch mixing and reading new
photos; used by the Keras jobs and the plots (envs/train.yaml, envs/plots.yaml)."""
