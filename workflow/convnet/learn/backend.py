"""Everything that depends on the Keras backend or the hardware, kept out of model and training code:
which GPUs a job may and can use, precision, thread counts and determinism. TensorFlow (the
default) and JAX are the tested backends.
"""

from __future__ import annotations

import logging
import os
import platform
from contextlib import contextmanager
from pathlib import Path

import keras

from ..core.errors import ConvnetError
from ..core.runcard import cpu_model, package_versions

log = logging.getLogger(__name__)


class HardwareError(ConvnetError):
    """The job cannot use the hardware it was given (a GPU its backend cannot see)."""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def visible_gpus() -> list[str]:
    """Names of the GPUs the Keras backend can use (TensorFlow or JAX); empty without one."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [
                tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                for gpu in tf.config.list_physical_devices("GPU")
            ]
        if backend == "jax":
            import jax

            return [str(getattr(d, "device_kind", d)) for d in jax.devices() if d.platform == "gpu"]
    except Exception as exc:  # a broken driver should not hide behind a traceback
        log.warning("could not query the GPU (%s); assuming none", exc)
    return []


# The CPU features a run card lists: what decides the precision and the speed.
CARD_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "fma")


def hardware(threads: int | None) -> dict:
    """What a run trained on, for its run card: backend, GPUs, CPU and its features, threads."""
    return {
        "backend": keras.backend.backend(),
        "gpus": visible_gpus(),
        "cpu": cpu_model(),
        "cpu_flags": sorted(cpu_flags() & set(CARD_CPU_FLAGS)),
        "cores": os.cpu_count(),
        "threads": threads,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "host": platform.node(),
    }


def gpu_compute_capability() -> tuple[int, int] | None:
    """(major, minor) of the first GPU the backend sees, or None without a GPU."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return tuple(details.get("compute_capability", (0, 0)))
        elif backend == "jax":
            import jax

            devices = [d for d in jax.devices() if d.platform == "gpu"]
            if devices:
                major, minor = str(devices[0].compute_capability).split(".")
                return int(major), int(minor)
    except Exception as exc:  # a broken driver should not stop a CPU run
        log.warning("could not query the GPU (%s); assuming none", exc)
    return None


# Variables a scheduler sets when it hands a job GPUs, and the values that mean "none".
GPU_VARIABLES = {
    "CUDA_VISIBLE_DEVICES": ("", "-1", "NoDevFiles"),
    "SLURM_JOB_GPUS": ("",),
    "SLURM_STEP_GPUS": ("",),
    "SLURM_GPUS_ON_NODE": ("", "0"),
}


def gpus_handed_over(environ=None) -> str | None:
    """The variable (and value) that says this job was given GPUs, or None."""
    environ = os.environ if environ is None else environ
    for name, none in GPU_VARIABLES.items():
        value = environ.get(name)
        if value is not None and value.strip() not in none:
            return f"{name}={value.strip()}"
    return None


def _version(package: str) -> str:
    """The installed version of ``package``; for TensorFlow, of whichever build provides it."""
    return package_versions()[package]


def check_gpu(accelerator: str, cpu_fallback: bool, environ=None, gpus=None) -> list[str]:
    """Stop a job that should run on a GPU but whose backend sees none, instead of training on the
    CPU a hundred times slower. It should when ``compute.accelerator`` is ``cuda`` or the scheduler
    handed it GPUs. ``compute.cpu_fallback: true`` makes it a warning. Returns the GPUs seen."""
    gpus = visible_gpus() if gpus is None else gpus
    handed = gpus_handed_over(environ)
    wanted = (
        "compute.accelerator is cuda" if accelerator == "cuda" else handed and f"the job was handed {handed}"
    )
    if not wanted or gpus:
        return gpus
    backend = keras.backend.backend()
    fix = (
        # the CUDA build of the TensorFlow installed (requirements.txt pins it; tests/test_envs.py
        # keeps requirements-cuda.txt and the env files in step)
        f"pip install 'tensorflow[and-cuda]=={_version('tensorflow')}' (requirements-cuda.txt) in an environment "
        "without tensorflow-cpu, or run with "
        "--use-conda and --config 'compute={accelerator: cuda}' (envs/train-cuda.yaml)"
        if backend == "tensorflow"
        else f"pip install 'jax[cuda12]=={_version('jax')}'"
    )
    message = (
        f"{wanted}, but Keras's {backend} backend sees no GPU (no CUDA libraries?): {fix}; "
        "or set compute.cpu_fallback: true to run on the CPU on purpose"
    )
    if not cpu_fallback:
        raise HardwareError(message)
    log.warning("%s; compute.cpu_fallback is true: running on the CPU", message)
    return gpus


def choose_precision(requested: str, flags: set[str] | None = None, gpu: tuple | None | str = "ask") -> str:
    """``auto``: mixed float16 on GPUs with tensor cores (compute capability >= 7), mixed bfloat16 on
    CPUs whose instructions do bfloat16 natively (AMX or AVX512-BF16), float32 otherwise."""
    if requested != "auto":
        return requested
    capability = gpu_compute_capability() if gpu == "ask" else gpu
    if capability:
        return "mixed_float16" if capability[0] >= 7 else "float32"
    flags = cpu_flags() if flags is None else flags
    if {"amx_bf16", "avx512_bf16"} & flags:
        return "mixed_bfloat16"
    return "float32"


@contextmanager
def dtype_policy(precision: str):
    """Build or load a model in ``precision`` (``float32``, ``mixed_bfloat16``, ``mixed_float16``),
    then give the global policy back: each layer keeps the policy it was built with, so the
    precision belongs to the model and nothing built later in the process inherits it."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def compiled_on_jax(layers: list[keras.layers.Layer]) -> list[keras.layers.Layer]:
    """``layers``, marked as fit for ``jax.jit`` when the backend is JAX. Keras marks RandomRotation,
    RandomZoom, RandomTranslation and RandomShear ``supports_jit = False`` on every backend because
    TensorFlow's transform op has no XLA kernel; on JAX they are ``jax.numpy`` code that compiles,
    but one such layer makes Keras train the whole model eagerly, op by op (keras-team/keras#23229:
    hours instead of minutes on a TPU; ``benchmarks/jax_augmentation.py``). On TensorFlow the mark
    stays: there it is right."""
    if keras.backend.backend() == "jax":
        for layer in layers:
            layer.supports_jit = True
    return layers


def configure(precision: str, threads: int | None, deterministic: bool, seed: int) -> str:
    """Set thread counts and seeds; return the precision to build the model in (``dtype_policy``)."""
    chosen = choose_precision(precision)
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
            except RuntimeError:  # already initialised in this process (tests)
                pass
        if deterministic:
            tf.config.experimental.enable_op_determinism()
    elif threads and threads < (cores := len(os.sched_getaffinity(0))):
        # XLA has no setting for its CPU threads (``intra_op_parallelism_threads`` is no XLA flag):
        # only the cores a process may run on bound them, as a SLURM job's cgroup does
        log.info(
            "jax backend: threads %d is not applied; XLA uses the %d cores this job may run on",
            threads,
            cores,
        )
    return chosen
