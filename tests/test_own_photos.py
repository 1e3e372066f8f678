"""Users' own photos: any number of classes, unequal, split by fraction, straight from a camera."""

from __future__ import annotations

import csv
import io
import json

import forked_snakemake
import numpy as np
import pytest
from PIL import Image
from synthetic import camera_jpeg, class_folders, class_image, encode, write_zip

from convnet.arrays.cache import decode, load_image_set, split_classes, write_image_cache
from convnet.core.config import check_split, replace_user_keys
from convnet.core.errors import ConfigError, DataError
from convnet.data.prepare import prepare_dataset
from convnet.data.split import split_sizes


PHOTOS = {
    "source": "local",
    "classes": "auto",
    "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
    "layout": "folders",
    "order": "shuffle",
    "seed": 3,
    "require_jfif": False,
}
UNEQUAL = {"glass": 20, "cardboard": 11, "trash": 7}  # not in sorted order on purpose


def rows_of(path, delimiter=","):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_auto_classes_and_fractions_keep_unequal_classes_stratified_and_deterministic(tmp_path):
    archive = write_zip(tmp_path / "photos.zip", class_folders(UNEQUAL))
    info = prepare_dataset(archive, tmp_path / "a", PHOTOS)
    assert info["classes"] == ["cardboard", "glass", "trash"]  # sorted: label 0 is cardboard
    for name, count in UNEQUAL.items():
        sizes = split_sizes(count, PHOTOS["split"])
        assert sum(sizes.values()) == count
        assert {split: info["images"][split][name] for split in sizes} == sizes
    assert info["images"]["train"] == {"cardboard": 7, "glass": 12, "trash": 4}
    assert info["dropped"] == info["not_selected"] == 0
    assert rows_of(tmp_path / "a" / "dropped.tsv", "\t") == []  # every photo is used

    again = prepare_dataset(archive, tmp_path / "b", PHOTOS)
    assert again == dict(info, path=info["path"])
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (tmp_path / "b" / "manifest.csv").read_bytes()
    # another data.seed draws other photos, in the same proportions
    prepare_dataset(archive, tmp_path / "c", dict(PHOTOS, seed=4))
    train = {r["file"] for r in rows_of(tmp_path / "a" / "manifest.csv") if r["split"] == "train"}
    other = {r["file"] for r in rows_of(tmp_path / "c" / "manifest.csv") if r["split"] == "train"}
    assert train != other and len(train) == len(other)
    assert split_classes(tmp_path / "a" / "provenance.json") == info["classes"]


def test_split_sizes_and_the_checks_of_data_split():
    assert split_sizes(7, {"train": 0.7, "validation": 0.15, "test": 0.15}) == {
        "train": 5,
        "validation": 1,
        "test": 1,
    }
    assert split_sizes(594, {"train": 0.7, "validation": 0.15, "test": 0.15}) == {
        "train": 416,
        "validation": 89,
        "test": 89,
    }
    assert split_sizes(10, {"train": 0.5, "validation": 0.2, "test": 0.1}) == {
        "train": 5,
        "validation": 2,
        "test": 1,
    }  # the other 2 are not selected
    assert split_sizes(3000, {"train": 1000, "validation": 500, "test": 500}) == {
        "train": 1000,
        "validation": 500,
        "test": 500,
    }
    check_split({"train": 0.7, "validation": 0.15, "test": 0.15})
    check_split({"train": 1000, "validation": 500, "test": 500})
    with pytest.raises(ConfigError, match="mixes counts and fractions"):
        check_split({"train": 0.7, "validation": 100, "test": 100})
    with pytest.raises(ConfigError, match="add up to 1.2, more than 1"):
        check_split({"train": 0.8, "validation": 0.2, "test": 0.2})
    with pytest.raises(ConfigError, match="whole numbers"):
        check_split({"train": 10.5, "validation": 2, "test": 2})


def test_a_list_or_mapping_of_classes_picks_them_and_lists_the_rest(tmp_path):
    archive = write_zip(tmp_path / "photos.zip", class_folders(UNEQUAL))
    info = prepare_dataset(archive, tmp_path / "a", dict(PHOTOS, classes=["trash", "glass"]))
    assert info["classes"] == ["trash", "glass"]  # the list's order is the label order
    dropped = rows_of(tmp_path / "a" / "dropped.tsv", "\t")
    assert len(dropped) == 11 and {r["reason"] for r in dropped} == {
        "not in a configured class (data.classes)"
    }
    info = prepare_dataset(
        archive, tmp_path / "b", dict(PHOTOS, classes={"bottles": "glass", "rest": "trash"})
    )
    assert info["classes"] == ["bottles", "rest"]
    assert (tmp_path / "b" / "train" / "bottles").is_dir()


def test_counts_beyond_what_is_needed_are_listed_as_not_selected(tmp_path):
    archive = write_zip(tmp_path / "photos.zip", class_folders({"a": 9, "b": 12}))
    info = prepare_dataset(
        archive, tmp_path / "a", dict(PHOTOS, split={"train": 4, "validation": 2, "test": 2})
    )
    dropped = rows_of(tmp_path / "a" / "dropped.tsv", "\t")
    assert info["not_selected"] == 1 + 4 == len(dropped)
    assert all(r["reason"].startswith("not selected") for r in dropped)


def test_camera_photos_are_kept_and_the_jfif_rule_says_what_it_drops(tmp_path):
    files = {
        f"photos/{name}/IMG_{i:04d}.JPG": camera_jpeg(class_image(i, index))
        for index, name in enumerate(("cat", "dog"))
        for i in range(40)
    }
    archive = write_zip(tmp_path / "camera.zip", files)
    info = prepare_dataset(archive, tmp_path / "kept", PHOTOS)
    assert sum(info["images"]["train"].values()) == 48 and info["dropped"] == 0
    with pytest.raises(DataError) as error:
        prepare_dataset(archive, tmp_path / "dropped", dict(PHOTOS, require_jfif=True))
    message = str(error.value)
    assert "\n" not in message
    assert "class 'cat' has 0 usable images" in message
    assert "40 of its files were dropped (no JFIF marker: 40)" in message
    assert "set data.require_jfif: false" in message
    assert not (tmp_path / "dropped" / "manifest.csv").exists()


def test_exif_orientation_turns_portrait_photos_upright(tmp_path):
    stored = class_image(1, 0, 32)[:, :16].copy()  # 32 high, 16 wide, as the sensor stored it
    stored[:4, :4] = 0  # a dark corner to follow
    path = tmp_path / "portrait.jpg"
    path.write_bytes(camera_jpeg(stored, orientation=6))  # 6: turn 90 degrees clockwise to view
    as_stored = decode(path, (32, 16), "nearest", exif_orientation=False)
    upright = decode(path, (16, 32), "nearest", exif_orientation=True)
    assert upright.shape == (16, 32, 3)
    np.testing.assert_array_equal(upright, np.rot90(as_stored, k=-1))
    assert upright[:4, -4:].mean() < 30  # the dark corner is now top right


def test_formats_modes_and_file_names_as_people_have_them(tmp_path):
    pixels = class_image(5, 1, 24)
    rgba = np.dstack([pixels, np.full((24, 24), 255, np.uint8)])
    rgba[:, :12, 3] = 0  # left half transparent
    cmyk = io.BytesIO()
    Image.fromarray(pixels).convert("CMYK").save(cmyk, format="JPEG")
    gif = io.BytesIO()
    frames = [Image.fromarray(pixels).convert("P"), Image.fromarray(255 - pixels).convert("P")]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    files = {
        "p/a/upper case.JPG": encode(pixels),
        "p/a/chat été 1.jpeg": encode(pixels),
        "p/a/gray.jpg": encode(pixels[:, :, 0], quality=90),
        "p/a/cmyk.jpg": cmyk.getvalue(),
        "p/b/transparent.png": encode(rgba, "PNG"),
        "p/b/bitmap.bmp": encode(pixels, "BMP"),
        "p/b/animated.gif": gif.getvalue(),
        "p/b/modern.webp": encode(pixels, "WEBP"),
        "p/b/notes.txt": b"not a photo",
        "__MACOSX/p/b/._bitmap.bmp": b"\x00\x05\x16\x07",
        "p/.DS_Store": b"\x00",
    }
    archive = write_zip(tmp_path / "mixed.zip", files)
    out = tmp_path / "data"
    info = prepare_dataset(archive, out, dict(PHOTOS, split={"train": 0.5, "validation": 0.25, "test": 0.25}))
    assert info["classes"] == ["a", "b"]  # the hidden files name no class
    manifest = rows_of(out / "manifest.csv")
    photos = {n for n in files if n.startswith(("p/a/", "p/b/")) and not n.endswith(".txt")}
    assert {r["source"] for r in manifest} == photos and len(photos) == 8
    dropped = {r["file"]: r["reason"] for r in rows_of(out / "dropped.tsv", "\t")}
    assert dropped["p/b/notes.txt"] == "not an image file name"
    assert set(dropped) == {"p/b/notes.txt", "__MACOSX/p/b/._bitmap.bmp", "p/.DS_Store"}
    for split in ("train", "validation", "test"):  # as the cache step decodes them
        write_image_cache(
            tmp_path / f"{split}.npz", out, out / "manifest.csv", split, (24, 24), info["classes"]
        )
    images = np.concatenate(
        [
            np.asarray(load_image_set(tmp_path / f"{split}.npz").images)
            for split in ("train", "validation", "test")
        ]
    )
    assert images.shape == (8, 24, 24, 3) and images.dtype == np.uint8
    row = next(r for r in manifest if r["source"] == "p/b/transparent.png")
    transparent = decode(out / row["file"], (24, 24))
    assert (transparent[:, :12] == 255).all()  # transparent pixels on white, as viewers show them


def test_auto_needs_two_class_folders_that_differ_in_more_than_case(tmp_path):
    one = write_zip(tmp_path / "one.zip", class_folders({"only": 6}))
    with pytest.raises(DataError, match=r"images are in 1 class folders .*needs at least 2"):
        prepare_dataset(one, tmp_path / "a", PHOTOS)
    files = {**class_folders({"Cat": 4}), **class_folders({"cat": 4}, root="more")}
    clash = write_zip(tmp_path / "clash.zip", files)
    with pytest.raises(DataError, match="differ only in upper and lower case"):
        prepare_dataset(clash, tmp_path / "b", PHOTOS)


def test_user_classes_replace_the_default_instead_of_merging_into_it():
    config = {"data": {"classes": {"cats": "cat", "dogs": "dog"}, "split": {"train": 1}}}
    replace_user_keys(config, [{"data": {"classes": {"daisy": "daisy", "rose": "rose"}}}])
    assert config["data"]["classes"] == {"daisy": "daisy", "rose": "rose"}
    replace_user_keys(config, [{"data": {"classes": ["a", "b", "c"]}}, {"data": {"seed": 1}}])
    assert config["data"]["classes"] == ["a", "b", "c"]
    replace_user_keys(config, [{"data": {"classes": ["x", "y"]}}, {"data": {"classes": "auto"}}])
    assert config["data"]["classes"] == "auto"  # the last layer that sets it wins
    replace_user_keys(config, [{"experiments": {}}])
    assert config["data"]["classes"] == "auto"


def snakemake_split(workdir, *args):
    proc = forked_snakemake.run(["--cores", "2", "results/data/manifest.csv", *args], workdir)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads((workdir / "results/data/provenance.json").read_text())


@pytest.mark.slow
def test_three_classes_from_the_command_line_and_from_a_config_file(workdir):
    write_zip(workdir / "photos.zip", class_folders({"bird": 8, "cat": 10, "dog": 9}))
    data = (
        "source: local, path: photos.zip, layout: folders, split: {train: 0.5, validation: 0.25, test: 0.25}"
    )
    info = snakemake_split(
        workdir, "--config", f"data={{{data}, classes: {{cat: cat, dog: dog, bird: bird}}}}"
    )
    assert info["classes"] == ["cat", "dog", "bird"]  # the mapping given, not merged with cats/dogs
    (workdir / "mine.yaml").write_text("data:\n  classes: {daisy: cat, rose: dog}\n")
    info = snakemake_split(workdir, "--configfile", "mine.yaml", "--config", f"data={{{data}}}")
    assert info["classes"] == ["daisy", "rose"]
    info = snakemake_split(
        workdir, "--configfile", "config/own-photos.yaml", "--config", "data={path: photos.zip}"
    )
    assert info["classes"] == ["bird", "cat", "dog"] and info["images"]["test"]["bird"] == 1
