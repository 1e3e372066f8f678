"""The Keras jobs (envs/train.yaml, envs/train-cuda.yaml): models, the model check, training,
evaluation, saved models and predictions."""
