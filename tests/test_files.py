"""The one atomic-write helper every writer goes through (CSV/TSV, JSON, caches, PNG, models,
checkpoints, downloads)."""

from __future__ import annotations

import pytest

from convnet.core.files import atomic_path, atomic_write_table


def test_a_completed_write_appears_under_its_name_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "model.weights.h5"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".weights.h5") and tmp.name.startswith(".")
        tmp.write_bytes(b"weights")
    assert target.read_bytes() == b"weights"
    assert [p.name for p in target.parent.iterdir()] == ["model.weights.h5"]


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old, complete")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old, complete"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_download_keeps_its_partial_file_to_resume(tmp_path):
    target, part = tmp_path / "pets.zip", tmp_path / "pets.zip.part"
    with pytest.raises(ConnectionError):
        with atomic_path(target, temporary=part, keep_on_error=True):
            part.write_bytes(b"first half")
            raise ConnectionError
    assert part.read_bytes() == b"first half" and not target.exists()
    with atomic_path(target, temporary=part, keep_on_error=True):
        part.write_bytes(b"first half, second half")
    assert target.read_bytes() == b"first half, second half" and not part.exists()


def test_nothing_written_is_an_error_not_an_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "plot.png"):
            pass
    assert not (tmp_path / "plot.png").exists()


def test_tables_go_through_it(tmp_path):
    atomic_write_table(tmp_path / "t.tsv", ["a", "b"], [{"a": 1, "b": 2}, [3, 4]], delimiter="\t")
    assert (tmp_path / "t.tsv").read_text() == "a\tb\n1\t2\n3\t4\n"


def test_a_full_disk_names_the_folder_and_leaves_no_temporary(tmp_path):
    import errno

    from convnet.core.errors import DiskFullError

    target = tmp_path / "models" / "m.h5"
    with pytest.raises(
        DiskFullError, match=r"models: no space left on its disk .* run the same command again"
    ):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(target.parent.iterdir()) == []
