"""Read image sources safely: a zip or tar archive (possibly nested, as Kaggle's ``train.zip``) or a
directory already on disk.

Every archive entry is checked before anything is read: entries that would land outside the target
folder, links, device files, encrypted entries and absurd sizes (zip bombs) are refused with a
:class:`DataError`, never skipped silently.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .errors import DataError
from .images import has_image_suffix

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Upper bounds that no real image archive comes near but a zip bomb does."""

    max_member_bytes: int = 2 * GiB  # one entry (Kaggle's nested train.zip is ~0.5 GiB)
    max_total_bytes: int = 64 * GiB  # all entries together, uncompressed
    max_ratio: float = 200.0  # uncompressed / compressed, for entries over 1 MiB (JPEGs are ~1:1)


@dataclass(frozen=True)
class Member:
    name: str  # normalised relative POSIX path inside the source
    size: int


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


def _check_sizes(archive: str, name: str, size: int, packed: int, total: int, limits: Limits) -> None:
    if size > limits.max_member_bytes:
        raise DataError(
            f"{archive}: entry {name!r} unpacks to {size:,} bytes, over the limit of "
            f"{limits.max_member_bytes:,}; refusing to extract it (zip bomb or wrong archive?)"
        )
    if total > limits.max_total_bytes:
        raise DataError(
            f"{archive}: entries unpack to more than {limits.max_total_bytes:,} bytes; "
            "refusing to extract (zip bomb or wrong archive?)"
        )
    if size > MiB and size > limits.max_ratio * max(packed, 1):
        raise DataError(
            f"{archive}: entry {name!r} is compressed {size / max(packed, 1):,.0f}:1 "
            f"(limit {limits.max_ratio:.0f}:1); refusing to extract a likely zip bomb"
        )


class ImageSource:
    """A read-only view of files inside an archive or a directory, in a stable order."""

    label: str

    def members(self) -> list[Member]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
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


class ZipSource(ImageSource):
    def __init__(self, fileobj, label: str, limits: Limits):
        self.label = label
        self._fileobj = fileobj  # ZipFile does not close a file object it was handed
        self._parent: ZipSource | None = None
        try:
            self._zip = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(
                f"{label}: not a readable zip archive ({exc}); delete it and download it again"
            ) from None
        self._members: list[Member] = []
        self._infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in self._zip.infolist():
            name = _check_name(label, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise DataError(
                    f"{label}: entry {info.filename!r} is a symbolic link; refusing to extract "
                    "links from an archive (get a clean copy of the data)"
                )
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise DataError(f"{label}: entry {info.filename!r} is encrypted; use an unencrypted archive")
            total += info.file_size
            _check_sizes(label, info.filename, info.file_size, info.compress_size, total, limits)
            if name in self._infos:
                raise DataError(f"{label}: entry {name!r} appears twice; get a clean copy")
            self._infos[name] = info
            self._members.append(Member(name, info.file_size))

    def members(self) -> list[Member]:
        return list(self._members)

    def read(self, name: str) -> bytes:
        try:
            return self._zip.read(self._infos[name])
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise DataError(
                f"{self.label}: entry {name!r} cannot be read ({exc}); the archive is damaged: "
                "delete it and download it again"
            ) from None

    def open_nested(self, name: str, limits: Limits) -> "ZipSource":
        # ZipFile reads a seekable member in place, so a 0.5 GiB train.zip is never held twice.
        nested = ZipSource(self._zip.open(self._infos[name]), f"{self.label}!{name}", limits)
        nested._parent = self
        return nested

    def close(self) -> None:
        self._zip.close()
        self._fileobj.close()
        if self._parent is not None:
            self._parent.close()


class TarSource(ImageSource):
    def __init__(self, path: Path, limits: Limits):
        self.label = str(path)
        try:
            self._tar = tarfile.open(path, "r:*")
            infos = self._tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(
                f"{path}: not a readable tar archive ({exc}); delete it and download it again"
            ) from None
        self._members = []
        self._infos: dict[str, tarfile.TarInfo] = {}
        total = 0
        for info in infos:
            name = _check_name(self.label, info.name)
            if info.issym() or info.islnk():
                raise DataError(
                    f"{path}: entry {info.name!r} is a link; refusing to extract links from an "
                    "archive (get a clean copy of the data)"
                )
            if info.isdir():
                continue
            if not info.isfile():
                raise DataError(
                    f"{path}: entry {info.name!r} is a device or special file; refusing to extract it"
                )
            total += info.size
            _check_sizes(self.label, info.name, info.size, info.size, total, limits)
            self._infos[name] = info
            self._members.append(Member(name, info.size))

    def members(self) -> list[Member]:
        return list(self._members)

    def read(self, name: str) -> bytes:
        try:
            handle = self._tar.extractfile(self._infos[name])
            return handle.read() if handle else b""
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(
                f"{self.label}: entry {name!r} cannot be read ({exc}); the archive is damaged: "
                "delete it and download it again"
            ) from None

    def close(self) -> None:
        self._tar.close()


class DirectorySource(ImageSource):
    """Images already on disk (an offline cluster's shared copy). Links are followed: it is the
    user's own folder, not untrusted input."""

    def __init__(self, path: Path):
        self.label = str(path)
        self._root = path
        self._members = []
        for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
            dirnames.sort()
            for filename in sorted(filenames):
                full = Path(dirpath, filename)
                if full.is_file():
                    rel = full.relative_to(path).as_posix()
                    self._members.append(Member(rel, full.stat().st_size))

    def members(self) -> list[Member]:
        return list(self._members)

    def read(self, name: str) -> bytes:
        return (self._root / name).read_bytes()


def open_image_source(path: str | os.PathLike, limits: Limits = Limits()) -> ImageSource:
    """Open an archive or directory. An archive that holds no images but a nested ``train.zip``
    (Kaggle's competition download) is opened one level down."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory; check data.path in the config")
    if path.is_dir():
        return DirectorySource(path)
    if zipfile.is_zipfile(path):
        source = ZipSource(open(path, "rb"), str(path), limits)
    elif tarfile.is_tarfile(path):
        return TarSource(path, limits)
    else:
        raise DataError(
            f"{path}: neither a zip nor a tar archive nor a directory; point data.path or data.url "
            "at the image archive"
        )
    names = [m.name for m in source.members()]
    if not any(has_image_suffix(n) for n in names):
        nested = [n for n in names if posixpath.basename(n).lower() == "train.zip"]
        if len(nested) == 1:
            return source.open_nested(nested[0], limits)
    return source
