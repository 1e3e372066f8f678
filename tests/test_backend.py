"""A job that was handed a GPU (or told to use one) but whose backend sees none stops at once with
the cause and the fix, instead of training on the CPU a hundred times slower."""

from __future__ import annotations

import logging
import os

import keras
import pytest
from test_envs import REQUIREMENTS

from convnet.learn.backend import HardwareError, check_gpu, gpus_handed_over

# every test here runs again with KERAS_BACKEND=jax (tests/test_jax.py): layers, models, backend
pytestmark = pytest.mark.jax


@pytest.mark.parametrize(
    "environ, handed",
    [
        ({}, None),
        ({"CUDA_VISIBLE_DEVICES": ""}, None),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
        ({"CUDA_VISIBLE_DEVICES": "0"}, "CUDA_VISIBLE_DEVICES=0"),
        ({"CUDA_VISIBLE_DEVICES": "GPU-5f2c, GPU-9a1b"}, "CUDA_VISIBLE_DEVICES=GPU-5f2c, GPU-9a1b"),
        ({"SLURM_JOB_GPUS": "1"}, "SLURM_JOB_GPUS=1"),
        ({"SLURM_GPUS_ON_NODE": "0"}, None),
        ({"SLURM_GPUS_ON_NODE": "2"}, "SLURM_GPUS_ON_NODE=2"),
    ],
)
def test_which_variables_mean_the_scheduler_handed_over_gpus(environ, handed):
    assert gpus_handed_over(environ) == handed


def test_a_job_handed_a_gpu_it_cannot_see_stops_naming_cause_and_fix():
    with pytest.raises(HardwareError) as info:
        check_gpu("cpu", cpu_fallback=False, environ={"SLURM_JOB_GPUS": "0"}, gpus=[])
    message = str(info.value)
    backend = keras.backend.backend()
    assert f"the job was handed SLURM_JOB_GPUS=0, but Keras's {backend} backend sees no GPU" in message
    fix = (
        f"tensorflow[and-cuda]=={REQUIREMENTS['tensorflow']}" if backend == "tensorflow" else "jax[cuda12]=="
    )
    assert fix in message and "compute.cpu_fallback: true" in message
    assert "\n" not in message


def test_accelerator_cuda_requires_a_gpu_even_without_scheduler_variables():
    with pytest.raises(HardwareError, match="compute.accelerator is cuda, but"):
        check_gpu("cuda", cpu_fallback=False, environ={}, gpus=[])


def test_on_jax_a_thread_count_below_the_cores_is_said_not_applied(caplog):
    from convnet.learn.backend import configure

    if keras.backend.backend() != "jax":
        pytest.skip("TensorFlow applies it, for the whole process (tests/test_jax.py runs this on JAX)")
    with caplog.at_level(logging.INFO, logger="convnet.learn.backend"):
        configure("float32", 1, deterministic=False, seed=1)
    said = "threads 1 is not applied; XLA uses the" in caplog.text
    assert said == (len(os.sched_getaffinity(0)) > 1)


def test_cpu_fallback_warns_and_goes_on(caplog):
    with caplog.at_level(logging.WARNING):
        assert check_gpu("cuda", cpu_fallback=True, environ={"CUDA_VISIBLE_DEVICES": "0"}, gpus=[]) == []
    assert "compute.cpu_fallback is true: running on the CPU" in caplog.text


def test_a_visible_gpu_or_a_cpu_job_passes():
    assert check_gpu("cuda", False, environ={"CUDA_VISIBLE_DEVICES": "0"}, gpus=["NVIDIA H100"]) == [
        "NVIDIA H100"
    ]
    assert check_gpu("cpu", False, environ={}, gpus=[]) == []
