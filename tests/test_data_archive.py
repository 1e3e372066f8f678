from __future__ import annotations

import pytest
from synthetic import (
    image_files,
    jpeg_bytes,
    kaggle_competition_zip,
    tar_with_symlink,
    write_tar,
    write_zip,
    zip_bomb,
    zip_with_symlink,
    zip_with_traversal,
)

from convnet.archive import Limits, open_image_source
from convnet.errors import DataError
from convnet.images import reject_reason


def test_zip_tar_and_folder_list_the_same_files(tmp_path):
    files = image_files("kaggle", 3, faults=False)
    folder = tmp_path / "folder"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    for path in (write_zip(tmp_path / "a.zip", files), write_tar(tmp_path / "a.tar.gz", files), folder):
        with open_image_source(path) as source:
            names = sorted(m.name for m in source.members())
            assert names == sorted(files)
            assert source.read("train/cat.1.jpg") == files["train/cat.1.jpg"]


def test_kaggle_competition_zip_is_opened_at_its_nested_train_zip(tmp_path):
    files = image_files("kaggle", 2, faults=False)
    with open_image_source(kaggle_competition_zip(tmp_path / "comp.zip", files)) as source:
        assert sorted(m.name for m in source.members()) == sorted(files)
        assert source.read("train/dog.0.jpg") == files["train/dog.0.jpg"]


@pytest.mark.parametrize(
    "make, message",
    [
        (zip_with_traversal, "outside the target folder"),
        (zip_with_symlink, "symbolic link"),
        (tar_with_symlink, "is a link"),
    ],
)
def test_unsafe_entries_are_refused_with_a_clear_error(tmp_path, make, message):
    archive = make(tmp_path / f"bad.{'tar' if 'tar' in make.__name__ else 'zip'}", image_files("kaggle", 2))
    with pytest.raises(DataError, match=message) as info:
        open_image_source(archive)
    assert str(archive) in str(info.value)
    assert "\n" not in str(info.value)


def test_zip_bomb_is_refused(tmp_path):
    with pytest.raises(DataError, match="zip bomb"):
        open_image_source(zip_bomb(tmp_path / "bomb.zip"))


def test_member_size_limit(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"train/cat.0.jpg": jpeg_bytes(0)})
    with pytest.raises(DataError, match="over the limit"):
        open_image_source(archive, Limits(max_member_bytes=10))


def test_not_an_archive(tmp_path):
    junk = tmp_path / "data.zip"
    junk.write_bytes(b"<html>login page</html>")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        open_image_source(junk)
    with pytest.raises(DataError, match="no such file"):
        open_image_source(tmp_path / "missing.zip")


def test_reject_reasons():
    good = jpeg_bytes(0)
    assert reject_reason("a/cat.0.jpg", good) is None
    assert reject_reason("a/cat.0.jpg", b"") == "empty file"
    assert reject_reason("a/cat.0.jpg", good[: len(good) // 2]).startswith("not decodable")
    assert reject_reason("a/Thumbs.db", b"xx") == "not an image file name"
    from synthetic import png_bytes

    assert reject_reason("a/cat.0.jpg", png_bytes(1)) == "PNG data named .jpg"
    assert reject_reason("a/cat.0.png", png_bytes(1)) is None
    exif = jpeg_bytes(1, exif_only=True)
    assert reject_reason("a/cat.0.jpg", exif) == "no JFIF marker"
    assert reject_reason("a/cat.0.jpg", exif, require_jfif=False) is None
