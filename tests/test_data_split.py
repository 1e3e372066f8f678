from __future__ import annotations

import csv

import pytest
from synthetic import FAULTS, image_files, write_zip

from convnet.core.errors import DataError
from convnet.data.prepare import prepare_dataset

DATA = {
    "source": "local",
    "classes": {"cats": "cat", "dogs": "dog"},
    "split": {"train": 4, "validation": 2, "test": 2},
    "layout": "auto",
    "order": "book",
    "seed": 7,
    "require_jfif": True,
}


def read_rows(path, delimiter=","):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


@pytest.mark.parametrize("layout", ["kaggle", "folders"])
def test_split_in_book_order_drops_faults_and_records_them(tmp_path, layout):
    archive = write_zip(tmp_path / "src.zip", image_files(layout, 10))
    out = tmp_path / "data"
    info = prepare_dataset(archive, out, DATA, threads=2)

    rows = read_rows(out / "manifest.csv")
    assert [r["file"] for r in rows[:4]] == [
        f"train/cats/{n}"
        for n in (
            ["cat.0.jpg", "cat.1.jpg", "cat.2.jpg", "cat.3.jpg"]
            if layout == "kaggle"
            else ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
        )
    ]
    by_split = {(r["split"], r["class"]) for r in rows}
    assert len(rows) == 16 and len(by_split) == 6
    validation_cats = [r["source"] for r in rows if r["split"] == "validation" and r["class"] == "cats"]
    assert [v.rsplit("/", 1)[-1].replace("cat.", "") for v in validation_cats] == ["4.jpg", "5.jpg"]
    for row in rows:
        assert (out / row["file"]).is_file()
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*/*")) == sorted(r["file"] for r in rows)

    dropped = read_rows(out / "dropped.tsv", "\t")
    reasons = " | ".join(r["reason"] for r in dropped)
    for expected in FAULTS.values():
        matching = [r for r in dropped if r["reason"] == expected or r["reason"].startswith(expected + ":")]
        assert len(matching) == 2, (expected, reasons)  # once per class
    assert " at 0x" not in reasons  # no object addresses: the same archive gives the same file
    if layout == "folders":
        assert {"PetImages/Cat/Thumbs.db", "readme[1].txt"} <= {r["file"] for r in dropped}
    assert info["layout"] == layout
    # every file not in the split is listed: the dropped ones and the usable ones not selected
    # (10 good images per class, 4 + 2 + 2 taken)
    not_selected = [r["file"] for r in dropped if r["reason"].startswith("not selected")]
    assert len(not_selected) == 4 and info["not_selected"] == 4
    assert info["dropped"] + info["not_selected"] == len(dropped)
    assert len(rows) + len(dropped) == len(image_files(layout, 10))
    assert info["classes"] == ["cats", "dogs"]
    assert info["images"]["train"] == {"cats": 4, "dogs": 4}
    assert len(info["sha256"]) == 64


def test_second_run_gives_identical_bytes(tmp_path):
    archive = write_zip(tmp_path / "src.zip", image_files("kaggle", 10))
    prepare_dataset(archive, tmp_path / "a", DATA)
    prepare_dataset(archive, tmp_path / "b", DATA, threads=3)
    for name in ("manifest.csv", "dropped.tsv", "provenance.json"):
        first = (tmp_path / "a" / name).read_text().replace(str(tmp_path / "a"), "")
        assert first == (tmp_path / "b" / name).read_text().replace(str(tmp_path / "b"), "")


def test_shuffle_is_seeded_and_differs_from_book_order(tmp_path):
    archive = write_zip(tmp_path / "src.zip", image_files("kaggle", 20, faults=False))
    shuffled = dict(DATA, order="shuffle")
    prepare_dataset(archive, tmp_path / "a", shuffled)
    prepare_dataset(archive, tmp_path / "b", shuffled)
    prepare_dataset(archive, tmp_path / "c", dict(shuffled, seed=8))
    a, b, c = (read_rows(tmp_path / x / "manifest.csv") for x in "abc")
    assert a == b
    assert a != c
    assert [r["file"] for r in a[:4]] != [f"train/cats/cat.{i}.jpg" for i in range(4)]


def test_a_rerun_removes_images_of_an_earlier_larger_split(tmp_path):
    archive = write_zip(tmp_path / "src.zip", image_files("kaggle", 10, faults=False))
    prepare_dataset(archive, tmp_path / "d", dict(DATA, split={"train": 6, "validation": 2, "test": 2}))
    prepare_dataset(archive, tmp_path / "d", DATA)
    assert len(list((tmp_path / "d" / "train" / "cats").iterdir())) == 4


def test_not_enough_images_is_a_clear_error_and_writes_no_manifest(tmp_path):
    archive = write_zip(tmp_path / "src.zip", image_files("kaggle", 5))
    with pytest.raises(DataError, match=r"class 'cats' has 5 usable images but data.split asks for 8"):
        prepare_dataset(archive, tmp_path / "out", DATA)
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_pinned_sha256_mismatch_is_refused(tmp_path):
    archive = write_zip(tmp_path / "src.zip", image_files("kaggle", 10))
    with pytest.raises(DataError, match="data.sha256 pins"):
        prepare_dataset(archive, tmp_path / "out", dict(DATA, sha256="0" * 64))


def test_duplicate_file_names_within_a_class_are_an_error(tmp_path):
    files = image_files("folders", 8, faults=False)
    files["PetImages/cat/0.jpg"] = files["PetImages/Cat/0.jpg"]
    with pytest.raises(DataError, match="give the files unique names"):
        prepare_dataset(write_zip(tmp_path / "src.zip", files), tmp_path / "out", DATA)


def test_assignment_is_a_pure_function_of_names_counts_order_and_seed():
    from convnet.data.split import Candidate, assign

    usable = {
        "cats": [Candidate(f"train/cat.{i}.jpg", "cats") for i in (10, 2, 0, 7, 1, 3)],
        "dogs": [Candidate(f"train/dog.{i}.jpg", "dogs") for i in range(6)],
    }
    counts = {"train": 3, "validation": 2, "test": 1}
    book = assign(usable, counts)
    # book order is by the number in the name, not the listing order
    assert [n for n, a in book.items() if a.split == "train" and a.label == "cats"] == [
        "train/cat.0.jpg",
        "train/cat.1.jpg",
        "train/cat.2.jpg",
    ]
    assert (
        book["train/cat.10.jpg"].split == "test" and book["train/dog.5.jpg"].relative == "test/dogs/dog.5.jpg"
    )
    ranks = sorted(book.values(), key=lambda a: a.rank)
    assert [(a.split, a.label) for a in ranks][:4] == [("train", "cats")] * 3 + [("train", "dogs")]
    shuffled = assign(usable, counts, order="shuffle", seed=7)
    assert shuffled == assign(usable, counts, order="shuffle", seed=7)
    assert shuffled != book and shuffled != assign(usable, counts, order="shuffle", seed=8)
    with pytest.raises(DataError, match="class 'cats' has 6 usable images but data.split asks for 7"):
        assign(usable, dict(counts, test=2))
