"""Read image sources safely: a zip or tar archive (possibly nested, as Kaggle's ``train.zip``) or a
directory already on disk.

Every archive entry is checked before anything is read: entries that would land outside the target
folder, links, device files, encrypted entries and absurd sizes (zip bombs) are refused with a
:class:`DataError`, never skipped silently.
"""

from __future__ import annotations

import lzma
import os
import posixpath
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..core.errors import DataError
from .images import has_image_suffix

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Upper bounds that no real image archive comes near but a zip bomb does."""

    max_member_bytes: int = 2 * GiB  # one entry (Kaggle's nested train.zip is ~0.5 GiB)
    max_total_bytes: int = 64 * GiB  # all entries together, uncompressed
    max_ratio: float = 200.0  # unpacked / packed bytes, once over 1 MiB (JPEGs are ~1:1)
    max_image_bytes: int = 64 * MiB  # one image read into memory (a 12-megapixel JPEG is ~5 MiB)


@dataclass(frozen=True)
class Member:
    name: str  # normalised relative POSIX path inside the source
    size: int


@dataclass(frozen=True)
class Entry:
    """What an archive says about one entry, before any check."""

    raw_name: str
    kind: str  # "file", "dir", "link" or "special"
    size: int  # bytes once unpacked
    packed: int | None = None  # bytes in the archive, where the format records them (zip)
    encrypted: bool = False


def _check_name(archive: str, raw_name: str) -> str:
    """Normalise an entry name; refuse one that would escape the extraction folder."""
    name = raw_name.replace("\\", "/")
    normalised = posixpath.normpath(name)
    parts = normalised.split("/")
    if (
        name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or normalised == ".."
        or parts[0] == ".."
        or "\x00" in name
    ):
        raise DataError(
            f"{archive}: entry {raw_name!r} would be written outside the target folder; "
            "refusing to extract it (the archive is damaged or malicious: get a clean copy)"
        )
    return normalised


def _check_ratio(archive: str, what: str, unpacked: int, packed: int, limits: Limits) -> None:
    if unpacked > MiB and unpacked > limits.max_ratio * max(packed, 1):
        raise DataError(
            f"{archive}: {what} compressed {unpacked / max(packed, 1):,.0f}:1 "
            f"(limit {limits.max_ratio:.0f}:1); refusing to extract a likely zip bomb"
        )


def validated_members(label: str, entries: Iterable[Entry], archive_bytes: int, limits: Limits) -> dict:
    """The regular files of an archive by normalised name, each entry checked before it is used:
    names that escape the folder, links, device files, encryption, duplicates, and sizes, including
    the compression ratio of each entry (where the format records its packed size) and of
    everything so far against the archive's own size on disk. Raises DataError on the first
    failure. ``entries`` may be lazy (tar): a bad header stops the reading before its data."""
    members: dict[str, Member] = {}
    total = 0
    for entry in entries:
        name = _check_name(label, entry.raw_name)
        if entry.kind == "link":
            raise DataError(
                f"{label}: entry {entry.raw_name!r} is a link; refusing to extract links from an "
                "archive (get a clean copy of the data)"
            )
        if entry.kind == "special":
            raise DataError(
                f"{label}: entry {entry.raw_name!r} is a device or special file; refusing to extract it"
            )
        if entry.kind == "dir":
            continue
        if entry.encrypted:
            raise DataError(f"{label}: entry {entry.raw_name!r} is encrypted; use an unencrypted archive")
        if entry.size > limits.max_member_bytes:
            raise DataError(
                f"{label}: entry {entry.raw_name!r} unpacks to {entry.size:,} bytes, over the limit of "
                f"{limits.max_member_bytes:,}; refusing to extract it (zip bomb or wrong archive?)"
            )
        total += entry.size
        if total > limits.max_total_bytes:
            raise DataError(
                f"{label}: entries unpack to more than {limits.max_total_bytes:,} bytes; "
                "refusing to extract (zip bomb or wrong archive?)"
            )
        if entry.packed is not None:
            _check_ratio(label, f"entry {entry.raw_name!r} is", entry.size, entry.packed, limits)
        _check_ratio(label, f"its first {len(members) + 1:,} entries are", total, archive_bytes, limits)
        if name in members:
            raise DataError(f"{label}: entry {name!r} appears twice; get a clean copy")
        members[name] = Member(name, entry.size)
    return members


def _damaged(label: str, exc: BaseException) -> DataError:
    return DataError(
        f"{label}: the archive is damaged ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
        "delete it and download it again"
    )


class ImageSource:
    """A read-only view of files inside an archive or a directory, in a stable order."""

    label: str
    limits: Limits = Limits()

    def members(self) -> list[Member]:
        return list(self._members.values())

    def read(self, name: str) -> bytes:
        """The bytes of one file; files over ``limits.max_image_bytes`` are refused unread."""
        size = self._members[name].size
        if size > self.limits.max_image_bytes:
            raise DataError(
                f"{self.label}: {name!r} is {size:,} bytes, over the {self.limits.max_image_bytes:,} "
                "bytes any photo needs; refusing to read it into memory"
            )
        try:
            return self._read(name)
        except DataError:
            raise
        except (
            zipfile.BadZipFile,
            tarfile.TarError,
            zlib.error,
            lzma.LZMAError,
            EOFError,
            OSError,
            ValueError,
        ) as exc:
            raise _damaged(f"{self.label}: entry {name!r}", exc) from None

    def _read(self, name: str) -> bytes:
        raise NotImplementedError

    def iter_bytes(self, names: list[str]) -> Iterator[tuple[str, bytes]]:
        """Yield (name, bytes) in the source's own order, which is the fast order for tar."""
        wanted = set(names)
        for member in self.members():
            if member.name in wanted:
                yield member.name, self.read(member.name)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _zip_entry(info: zipfile.ZipInfo) -> Entry:
    mode = info.external_attr >> 16
    kind = "link" if stat.S_ISLNK(mode) else "dir" if info.is_dir() else "file"
    return Entry(info.filename, kind, info.file_size, info.compress_size, bool(info.flag_bits & 0x1))


class ZipSource(ImageSource):
    def __init__(self, fileobj, label: str, size: int, limits: Limits):
        self.label, self.limits = label, limits
        self._fileobj = fileobj  # ZipFile does not close a file object it was handed
        self._parent: ZipSource | None = None
        try:
            self._zip = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise _damaged(label, exc) from None
        infos = self._zip.infolist()
        self._members = validated_members(label, map(_zip_entry, infos), size, limits)
        self._infos = {_check_name(label, info.filename): info for info in infos if not info.is_dir()}

    def _read(self, name: str) -> bytes:
        return self._zip.read(self._infos[name])

    def open_nested(self, name: str) -> "ZipSource":
        # ZipFile reads a seekable member in place, so a 0.5 GiB train.zip is never held twice.
        nested = ZipSource(
            self._zip.open(self._infos[name]), f"{self.label}!{name}", self._members[name].size, self.limits
        )
        nested._parent = self
        return nested

    def close(self) -> None:
        self._zip.close()
        self._fileobj.close()
        if self._parent is not None:
            self._parent.close()


def _tar_entry(info: tarfile.TarInfo) -> Entry:
    kind = (
        "link"
        if info.issym() or info.islnk()
        else "dir"
        if info.isdir()
        else "file"
        if info.isfile()
        else "special"
    )
    return Entry(info.name, kind, info.size)


class TarSource(ImageSource):
    """A tar archive, compressed or not. A tar records no packed size per entry, so the ratio
    check weighs everything unpacked so far against the archive's size on disk, header by header,
    before the data of an entry is decompressed."""

    def __init__(self, path: Path, limits: Limits):
        self.label, self.limits = str(path), limits
        try:
            self._tar = tarfile.open(path, "r:*")
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise _damaged(self.label, exc) from None
        self._infos: dict[str, tarfile.TarInfo] = {}

        def entries():
            for info in self._tar:  # lazily: a bad header stops before its data is read
                if info.isfile():
                    self._infos[_check_name(self.label, info.name)] = info
                yield _tar_entry(info)

        try:
            self._members = validated_members(self.label, entries(), path.stat().st_size, limits)
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            self._tar.close()
            raise _damaged(self.label, exc) from None
        except DataError:
            self._tar.close()
            raise

    def _read(self, name: str) -> bytes:
        handle = self._tar.extractfile(self._infos[name])
        return handle.read(self._members[name].size) if handle else b""

    def close(self) -> None:
        self._tar.close()


class DirectorySource(ImageSource):
    """Images already on disk (an offline cluster's shared copy). Links are followed: it is the
    user's own folder, not untrusted input."""

    def __init__(self, path: Path, limits: Limits):
        self.label, self.limits = str(path), limits
        self._root = path
        self._members = {}
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            dirnames.sort()
            for filename in sorted(filenames):
                full = Path(dirpath, filename)
                if full.is_file():
                    rel = full.relative_to(path).as_posix()
                    self._members[rel] = Member(rel, full.stat().st_size)

    def _read(self, name: str) -> bytes:
        return (self._root / name).read_bytes()


def open_image_source(path: str | os.PathLike, limits: Limits = Limits()) -> ImageSource:
    """Open an archive or directory. An archive that holds no images but a nested ``train.zip``
    (Kaggle's competition download) is opened one level down."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory; check data.path in the config")
    if path.is_dir():
        return DirectorySource(path, limits)
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if zipfile.is_zipfile(path):
        source = ZipSource(open(path, "rb"), str(path), path.stat().st_size, limits)
    elif _is_tar(path):
        return TarSource(path, limits)
    elif magic.startswith(ZIP_MAGIC) or magic.startswith(COMPRESSED_MAGIC):
        kind = "zip" if magic.startswith(ZIP_MAGIC) else "compressed (tar?)"
        raise DataError(
            f"{path}: a damaged {kind} archive (truncated download or disk error?); delete it and "
            "download it again, or check data.path"
        )
    else:
        raise DataError(
            f"{path}: neither a zip nor a tar archive nor a directory; point data.path or data.url "
            "at the image archive"
        )
    names = [m.name for m in source.members()]
    if not any(has_image_suffix(n) for n in names):
        nested = [n for n in names if posixpath.basename(n).lower() == "train.zip"]
        if len(nested) == 1:
            return source.open_nested(nested[0])
    return source


ZIP_MAGIC = b"PK\x03\x04"
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ")  # gzip, bzip2, xz


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error, lzma.LZMAError):
        return False
