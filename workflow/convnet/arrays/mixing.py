"""CutMix and mixup of a training batch (setting ``mix``), in NumPy, as the batch is read.

Each batch is mixed with a shuffled copy of itself: CutMix (Yun et al., 2019) pastes a box of the
partner image, mixup (Zhang et al., 2018) blends the two images; the target is the two labels
mixed in the same proportion. One proportion ``lam ~ Beta(alpha, alpha)`` per batch, as both
papers' code draws it. What a batch draws depends only on the run's seed and the batch's place in
the plan (epoch, step), never on a generator that runs on: a run resumed after epoch ``k`` mixes
its batches exactly as an uninterrupted run does, and nothing needs to be in the checkpoint.

Images stay uint8 (mixup rounds the blend to whole pixel values: half a level of 255 at most),
so the model and its input are the same with or without mixing.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.settings import Mix

# keeps the mixing draws apart from the other random streams a run seeds with the same number
MIX_STREAM = 0x6D6978


def batch_generator(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The random draws of batch ``step`` of epoch ``epoch`` (both from 0) of the run seeded ``seed``."""
    return np.random.default_rng([MIX_STREAM, seed, epoch, step])


def targets_of(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Labels as float32 targets: 0/1 for two classes (one sigmoid unit), one-hot rows for more."""
    if num_classes == 2:
        return labels.astype(np.float32)
    return np.eye(num_classes, dtype=np.float32)[labels.astype(np.int64)]


def cutmix_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Top, bottom, left, right of a box of about ``1 - lam`` of the image around a uniform centre,
    clipped to the image (so it may come out smaller: the label follows the box as clipped)."""
    cut = math.sqrt(1.0 - lam)
    cut_height, cut_width = round(height * cut), round(width * cut)
    centre_y, centre_x = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = np.clip([centre_y - cut_height // 2, centre_y + cut_height - cut_height // 2], 0, height)
    left, right = np.clip([centre_x - cut_width // 2, centre_x + cut_width - cut_width // 2], 0, width)
    return int(top), int(bottom), int(left), int(right)


def mix_batch(
    images: np.ndarray, labels: np.ndarray, num_classes: int, mix: Mix, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``images`` (uint8, batch first) mixed as ``mix`` says, and their float32 targets (see
    ``targets_of``). With probability ``1 - mix.probability`` the batch stays as it is."""
    targets = targets_of(labels, num_classes)
    if rng.random() >= mix.probability or len(images) < 2:
        return images, targets
    lam = float(rng.beta(mix.alpha, mix.alpha))
    partner = rng.permutation(len(images))
    if mix.method == "cutmix":
        height, width = images.shape[1:3]
        top, bottom, left, right = cutmix_box(height, width, lam, rng)
        mixed = images.copy()
        mixed[:, top:bottom, left:right] = images[partner, top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / (height * width)
    else:
        blend = lam * images.astype(np.float32) + (1.0 - lam) * images[partner].astype(np.float32)
        mixed = np.rint(blend).astype(np.uint8)
    mixed_targets = lam * targets + (1.0 - lam) * targets[partner]
    return mixed, mixed_targets.astype(np.float32)
