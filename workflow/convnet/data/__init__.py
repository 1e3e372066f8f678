"""The data jobs (envs/data.yaml): the standard library and Pillow. Reading archives and folders
safely, checking images, splitting."""
