"""Everything that depends on the Keras backend or the hardware, kept out of model and training code:
precision choice, thread counts and determinism.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keras

log = logging.getLogger(__name__)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


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
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_capability(0)
    except Exception as exc:  # a broken driver should not stop a CPU run
        log.warning("could not query the GPU (%s); assuming none", exc)
    return None


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


def configure(precision: str, threads: int | None, deterministic: bool, seed: int) -> str:
    """Set the global dtype policy, thread counts and seeds; return the precision in use."""
    chosen = choose_precision(precision)
    keras.config.set_dtype_policy(chosen)
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
    elif threads and keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    elif threads:
        os.environ.setdefault(
            "XLA_FLAGS", f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}"
        )
    return chosen
