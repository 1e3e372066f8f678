from __future__ import annotations

import pytest
from synthetic import (
    damaged_zip_entry,
    image_files,
    jpeg_bytes,
    kaggle_competition_zip,
    tar_bomb,
    tar_with_symlink,
    write_tar,
    write_zip,
    zip_bomb,
    zip_with_symlink,
    zip_with_traversal,
)

from convnet.data.archive import Limits, open_image_source
from convnet.core.errors import DataError
from convnet.data.images import reject_reason


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
        (zip_with_symlink, "is a link"),
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


def test_tar_bomb_is_refused_before_its_data_is_unpacked(tmp_path):
    """A tar records no packed size per entry: the ratio is checked against the archive's size on
    disk, header by header. On main the tar passed its unpacked size as the packed one and the
    check never fired (a 3.4 MB .tar.gz of 3 GiB of zeros was accepted)."""
    bomb = tar_bomb(tmp_path / "bomb.tar.gz", entries=3, size=64 << 20)
    assert bomb.stat().st_size < (1 << 20)
    with pytest.raises(DataError, match=r"first 1 entries are compressed .*:1 .*zip bomb") as info:
        open_image_source(bomb)
    assert "\n" not in str(info.value)


def test_a_photo_sized_limit_caps_what_is_read_into_memory(tmp_path):
    files = {"train/cat.0.jpg": jpeg_bytes(0), "train/cat.1.jpg": jpeg_bytes(1, size=256)}
    for archive in (write_zip(tmp_path / "a.zip", files), write_tar(tmp_path / "a.tar", files)):
        limits = Limits(max_image_bytes=len(files["train/cat.0.jpg"]))
        with open_image_source(archive, limits) as source:
            assert source.read("train/cat.0.jpg") == files["train/cat.0.jpg"]
            with pytest.raises(DataError, match="over the .* bytes any photo needs"):
                source.read("train/cat.1.jpg")


def test_a_damaged_zip_entry_is_one_clear_line(tmp_path):
    """On main: a raw zlib.error traceback."""
    archive = damaged_zip_entry(tmp_path / "a.zip", image_files("kaggle", 3, faults=False))
    with open_image_source(archive) as source:
        with pytest.raises(
            DataError, match=r"entry 'train/cat.1.jpg': the archive is damaged .*download it again"
        ):
            source.read("train/cat.1.jpg")


@pytest.mark.parametrize("suffix, writer", [("zip", write_zip), ("tar.gz", write_tar)])
def test_a_truncated_archive_is_called_damaged(tmp_path, suffix, writer):
    """On main a truncated zip was 'neither a zip nor a tar archive nor a directory'."""
    archive = writer(tmp_path / f"a.{suffix}", image_files("kaggle", 4, faults=False))
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match=r"damaged .*download it again") as info:
        with open_image_source(archive) as source:
            for member in source.members():
                source.read(member.name)
    assert str(archive) in str(info.value) and "\n" not in str(info.value)


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


def test_huge_photos_decode_at_a_reduced_scale_and_huge_pngs_are_dropped(monkeypatch):
    """On main a 12000x12000 JPEG was decoded whole (1.1 GB in cache_images). Over the pixel cap a
    JPEG decodes at 1/2, 1/4 or 1/8 scale; a PNG, which cannot, is dropped with the reason."""
    import io

    from convnet.data import images
    from synthetic import png_bytes

    photo = jpeg_bytes(0, size=256)
    with images.open_bounded(io.BytesIO(photo), max_pixels=256 * 256) as image:
        assert image.size == (256, 256)
    with images.open_bounded(io.BytesIO(photo), max_pixels=100 * 100) as image:
        assert image.size == (64, 64) and image.width * image.height <= 100 * 100
    monkeypatch.setattr(images, "MAX_DECODED_PIXELS", 64 * 64)
    assert reject_reason("a/cat.0.jpg", photo) is None  # checked at 1/4 scale
    monkeypatch.setattr(images, "MAX_DECODED_PIXELS", 100)
    assert reject_reason("a/cat.0.jpg", photo) == "too large: 256x256 pixels, over the limit of 100"
    assert reject_reason("a/cat.0.png", png_bytes(1)) == "too large: 16x16 pixels, over the limit of 100"


def test_a_web_page_named_jpg_is_not_an_image():
    assert reject_reason("a/cat.0.jpg", b"<html>log in</html>") == "not an image"
