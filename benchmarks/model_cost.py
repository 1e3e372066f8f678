"""What each experiment's model costs, and what the machine can do: parameters, multiply-add FLOPs
per image (forward, and a training step's ~3x), the GEMM rate TensorFlow reaches here, and the
FMA peak of the CPU's vector units, side by side in one run.

    .venv/bin/python benchmarks/model_cost.py                       # every configured experiment
    .venv/bin/python benchmarks/model_cost.py --experiments augmented xception_small

FLOPs count the multiplications and additions of the convolutions and dense layers (2 per
multiply-add), as papers do; batch normalization, activations, pooling and additions are left out
(a few percent). A training step costs about three forward passes (the backward pass computes the
gradients of the inputs and of the weights, each about a forward pass).
This is not a test: the GEMM rate takes seconds and depends on the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

import yaml  # noqa: E402

from convnet.core.config import FAMILY_OVERLAYS  # noqa: E402
from convnet.core.experiments import deep_merge, experiment_names, experiment_settings  # noqa: E402

TRAINING_STEP_FORWARDS = 3  # forward + gradients of the inputs + gradients of the weights


def load_config(configfiles: list[Path]) -> dict:
    """config/config.yaml with every optional family's overlay and then each ``--configfile`` over
    it."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    overlays = [ROOT / "config" / f"{family}.yaml" for family in FAMILY_OVERLAYS]
    for path in [*overlays, *configfiles]:
        config = deep_merge(config, yaml.safe_load(Path(path).read_text()))
    return config


def forward_flops(model) -> int:
    """Multiply-add FLOPs of one image through ``model``'s convolutions and dense layers."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers") and not isinstance(layer, (layers.Conv2D, layers.Dense)):
            total += forward_flops(layer)  # a nested model (a pretrained base)
            continue
        if isinstance(layer, (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D, layers.Dense)):
            inputs = layer.input.shape[-1]
            out = layer.output.shape
            positions = math.prod(out[1:-1]) if len(out) > 2 else 1
            if isinstance(layer, layers.SeparableConv2D):
                depthwise = positions * math.prod(layer.kernel_size) * inputs * layer.depth_multiplier
                total += 2 * (depthwise + positions * inputs * layer.depth_multiplier * layer.filters)
            elif isinstance(layer, layers.DepthwiseConv2D):
                total += 2 * positions * math.prod(layer.kernel_size) * inputs * layer.depth_multiplier
            elif isinstance(layer, layers.Conv2D):
                total += 2 * positions * math.prod(layer.kernel_size) * inputs * layer.filters // layer.groups
            else:
                total += 2 * inputs * layer.units
    return total


def gemm_gflops(dtype: str, size: int = 2048, repeats: int = 7) -> float:
    """The rate of one ``size`` x ``size`` matrix product in TensorFlow (the kernel convolutions
    come down to), median of ``repeats``."""
    import tensorflow as tf

    a = tf.random.uniform((size, size), dtype="float32")
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    tf.linalg.matmul(a, b).numpy()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        seconds.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(seconds) / 1e9


def fma_peak_gflops() -> tuple[float, str]:
    """cores x clock x 2 FMA units x float32 lanes x 2: what the vector units could do at the
    listed clock, and how it was reckoned (the FMA units per core are assumed, not read: AMD's
    Zen 4 runs AVX-512 on 256-bit units, half this)."""
    from convnet.learn.backend import cpu_flags

    flags = cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    mhz = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz.append(float(line.split(":")[1]))
    except OSError:
        pass
    clock = statistics.median(mhz) / 1000 if mhz else float("nan")
    cores = os.cpu_count() or 1
    peak = cores * clock * 2 * lanes * 2
    return peak, f"{cores} cores x {clock:.2f} GHz x 2 FMA units x {lanes} float32 lanes x 2"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiments", nargs="+", help="default: every experiment of every group")
    parser.add_argument("--configfile", type=Path, action="append", default=[])
    parser.add_argument("--no-gemm", action="store_true", help="leave out the GEMM rate (seconds)")
    args = parser.parse_args()
    config = load_config(args.configfile)

    from convnet.learn.backend import configure

    configure("float32", threads=os.cpu_count(), deterministic=False, seed=1)
    import keras
    import tensorflow as tf

    from convnet.learn.model import model_from_settings
    from convnet.core.runcard import cpu_model

    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores; tensorflow {tf.__version__}, keras {keras.__version__}"
    )
    print(f"{'experiment':20} {'size':>8} {'params':>11} {'GFLOP fwd':>10} {'GFLOP train':>12}")
    for name in args.experiments or experiment_names(config):
        settings = experiment_settings(config, name)
        model = model_from_settings(settings)
        forward = forward_flops(model) / 1e9
        height, width = settings["image_size"]
        print(
            f"{name:20} {height:>4}x{width:<3} {model.count_params():>11,} {forward:10.3f} "
            f"{TRAINING_STEP_FORWARDS * forward:12.3f}"
        )
    peak, how = fma_peak_gflops()
    print(f"FMA peak: {peak:.0f} GFLOP/s float32 ({how})")
    if not args.no_gemm:
        for dtype in ("float32", "bfloat16"):
            print(f"GEMM 2048x2048 in TensorFlow, {dtype}: {gemm_gflops(dtype):.0f} GFLOP/s")


if __name__ == "__main__":
    main()
