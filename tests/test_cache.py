"""The image cache: written a chunk at a time as np.savez would write it, read back a batch at a
time, so neither the cache step nor training holds a split in memory."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT  # noqa: F401  (puts workflow/ on the path through pytest's pythonpath)

from convnet.arrays.cache import CachedImages, ImageSet, load_image_set, save_image_set, write_cache
from convnet.core.errors import DataError
from convnet.learn.pipeline import fit_arguments


def image_set(n: int = 600, seed: int = 0, size=(12, 14)) -> ImageSet:
    rng = np.random.default_rng(seed)
    return ImageSet(
        rng.integers(0, 256, (n, *size, 3), dtype=np.uint8),
        (np.arange(n) % 3).astype(np.float32),
        np.array([f"class{i % 3}/{i}.jpg" for i in range(n)]),
        ("a", "b", "c"),
    )


def test_the_streamed_cache_has_the_bytes_np_savez_writes(tmp_path):
    images = image_set()
    save_image_set(tmp_path / "streamed.npz", images)
    np.savez(
        tmp_path / "savez.npz",
        images=images.images,
        labels=images.labels,
        files=images.files,
        classes=np.array(images.classes),
    )
    # (the zip's member times are to the second: written within one, they match too)
    streamed, savez = ((tmp_path / name).read_bytes() for name in ("streamed.npz", "savez.npz"))
    assert len(streamed) == len(savez)
    differing = [i for i, (x, y) in enumerate(zip(streamed, savez)) if x != y]
    assert len(differing) <= 16, "only the members' modification times may differ"


def test_a_cache_is_read_from_disk_as_the_arrays_it_holds(tmp_path):
    images = image_set()
    np.savez(  # a cache as earlier versions wrote it reads the same
        tmp_path / "old.npz",
        images=images.images,
        labels=images.labels,
        files=images.files,
        classes=np.array(images.classes),
    )
    loaded = load_image_set(tmp_path / "old.npz")
    assert isinstance(loaded.images, CachedImages) and loaded.images.shape == images.images.shape
    order = np.random.default_rng(1).permutation(600)[:37]
    assert np.array_equal(loaded.images[order], images.images[order])
    assert np.array_equal(loaded.images[5:300], images.images[5:300])
    assert np.array_equal(loaded.images[599], images.images[599])
    assert np.array_equal(np.asarray(loaded.images), images.images)
    assert np.array_equal(loaded.labels, images.labels) and loaded.classes == images.classes
    assert list(loaded.files) == list(images.files)


def test_training_reads_the_same_batches_from_disk_as_from_memory(tmp_path):
    train, validation = image_set(90, 1), image_set(20, 2)
    save_image_set(tmp_path / "train.npz", train)
    save_image_set(tmp_path / "validation.npz", validation)
    on_disk = fit_arguments(
        load_image_set(tmp_path / "train.npz"), load_image_set(tmp_path / "validation.npz"), 8, None, 3, 2
    )
    in_memory = fit_arguments(train, validation, 8, None, 3, 2)
    for key in ("x", "validation_data"):
        pairs = list(zip(on_disk[key], in_memory[key], strict=True))
        assert len(pairs) == (24 if key == "x" else 3)
        for (x1, y1), (x2, y2) in pairs:
            assert np.array_equal(np.asarray(x1), np.asarray(x2)) and np.array_equal(
                np.asarray(y1), np.asarray(y2)
            )


def test_a_cut_short_cache_is_one_clear_error(tmp_path):
    save_image_set(tmp_path / "train.npz", image_set())
    data = (tmp_path / "train.npz").read_bytes()
    (tmp_path / "train.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"train.npz: not a readable image cache .*delete it and run again"):
        load_image_set(tmp_path / "train.npz")


def test_a_cache_is_complete_or_absent(tmp_path):
    def chunks():
        yield np.zeros((4, 2, 2, 3), np.uint8)
        raise DataError("photo 5 cannot be decoded")

    with pytest.raises(DataError, match="photo 5"):
        write_cache(
            tmp_path / "train.npz", (8, 2, 2, 3), chunks(), np.zeros(8), np.array(["f"] * 8), ["a", "b"]
        )
    assert list(tmp_path.iterdir()) == []
