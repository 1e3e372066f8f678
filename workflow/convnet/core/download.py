"""Fetch the data archive: retried, resumed where the server allows, verified, written atomically.

Bytes go to ``<dest>.part`` (which survives a failed job, so the next attempt resumes with an HTTP
Range request) and are renamed to ``<dest>`` only once complete and, if a sha256 is pinned, verified.
A truncated download therefore never looks complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import DataError, DiskFullError
from .files import atomic_path, is_disk_full, sha256_of_file

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


class _Retry(Exception):
    """A transient failure: try again, resuming from what is on disk."""


def archive_name(url: str) -> str:
    """The file name a URL's archive is stored under."""
    name = os.path.basename(urlparse(url).path)
    return name or "data.zip"


def _progress(done: int, total: int | None, started: float) -> str:
    rate = done / max(time.monotonic() - started, 1e-6) / 1e6
    if total:
        return f"{done:,} / {total:,} bytes ({100 * done / total:.0f}%, {rate:.1f} MB/s)"
    return f"{done:,} bytes ({rate:.1f} MB/s)"


def _transfer(url: str, part: Path, timeout: float) -> None:
    """One attempt: append to ``part`` from where it stops, or start over if the server ignores Range."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "convnet-workflow"})
    is_http = urlparse(url).scheme in ("http", "https")
    if have and is_http:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Our partial file is already as long as the resource (or longer): start over.
            part.unlink()
            raise _Retry(f"HTTP 416 for a resumed download of {have:,} bytes") from None
        if exc.code in _RETRYABLE_HTTP:
            raise _Retry(f"HTTP {exc.code} {exc.reason}") from None
        raise DataError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check data.url") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        if urlparse(url).scheme == "file":
            raise DataError(f"download of {url} failed: {exc}; check data.url") from None
        raise _Retry(str(getattr(exc, "reason", exc))) from None

    with response:
        status = getattr(response, "status", None)
        resuming = bool(have and is_http and status == 206)
        if resuming:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                part.unlink()
                raise _Retry(f"server answered Range with {content_range!r}; starting over")
        elif have:
            log.info("server does not resume (status %s); starting over", status)
        length = response.headers.get("Content-Length")
        total = have + int(length) if resuming and length else (int(length) if length else None)
        done = have if resuming else 0
        started, last_report = time.monotonic(), 0.0
        with open(part, "ab" if resuming else "wb") as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if now - last_report >= 10 or (total and done == total):
                        log.info("downloaded %s", _progress(done, total, started))
                        last_report = now
            except (OSError, urllib.error.URLError, ValueError) as exc:
                if is_disk_full(exc):  # no retry fixes that; the .part is kept to resume from
                    raise DiskFullError(part.parent) from None
                raise _Retry(f"connection lost after {done:,} bytes ({exc})") from None
        if total is not None and done != total:
            raise _Retry(f"connection closed after {done:,} of {total:,} bytes")


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 2.0,
    setting: str = "data",
) -> str:
    """Download ``url`` to ``dest``; return its sha256. A pinned ``sha256`` or ``md5`` (Keras
    publishes md5 hashes for its weights) must match. ``setting`` names the config block in
    messages. Raises DataError with a one-line reason."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    log.info("downloading %s -> %s", url, dest)
    with atomic_path(dest, temporary=part, keep_on_error=True):
        for attempt in range(1, retries + 2):
            try:
                _transfer(url, part, timeout)
                break
            except _Retry as exc:
                if attempt > retries:
                    yourself = (
                        "data.source: local and data.path"
                        if setting == "data"
                        else f"{setting}.url to its file:// URL"
                    )
                    raise DataError(
                        f"download of {url} failed after {retries + 1} attempts ({exc}); "
                        f"run again to resume from {part.name}, or fetch it yourself and set {yourself}"
                    ) from None
                wait = backoff * 2 ** (attempt - 1)
                log.warning("attempt %d failed: %s; retrying in %.0f s", attempt, exc, wait)
                time.sleep(wait)
        return verify(part, dest, sha256, what=url, md5=md5, setting=setting)


def verify(
    part: Path, dest: Path, sha256: str | None, what: str, md5: str | None = None, setting: str = "data"
) -> str:
    """Check a complete ``part`` against a pinned sha256 (or md5); return its sha256. A mismatch
    is moved aside for inspection (and never becomes ``dest``)."""
    observed, size = sha256_of_file(part)
    log.info("sha256 %s, %s bytes", observed, f"{size:,}")
    for name, pinned, digest in (("sha256", sha256, observed), ("md5", md5, md5 and _md5(part))):
        if pinned and digest.lower() != pinned.lower():
            rejected = dest.with_name(dest.name + f".{name}-mismatch")
            os.replace(part, rejected)
            raise DataError(
                f"{what}: {name} is {digest}, but {setting}.{name} pins {pinned}; the bytes were kept as "
                f"{rejected} for inspection: fix {setting}.{name} or {setting}.url"
            )
    return observed


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def kaggle_credentials_present(env: dict | None = None, home: Path | None = None) -> bool:
    """True where the Kaggle client will find credentials (environment or kaggle.json)."""
    env = os.environ if env is None else env
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    home = Path.home() if home is None else home
    folders = [Path(env["KAGGLE_CONFIG_DIR"])] if env.get("KAGGLE_CONFIG_DIR") else []
    folders += [home / ".kaggle", home / ".config" / "kaggle"]
    return any((folder / name).is_file() for folder in folders for name in ("kaggle.json", "access_token"))


def kaggle_download(competition: str, dest: str | os.PathLike, *, sha256: str | None = None) -> str:
    """Download a competition's archive with the Kaggle CLI; errors become one clear line."""
    dest = Path(dest)
    if shutil.which("kaggle") is None:
        raise DataError(
            "data.source is 'kaggle' but the kaggle command is not installed: pip install kaggle, "
            "or use data.source: url (the default PetImages archive needs no account)"
        )
    if not kaggle_credentials_present():
        raise DataError(
            "data.source is 'kaggle' but no Kaggle credentials were found: put kaggle.json in "
            "~/.kaggle/ (Kaggle > Settings > Create New Token) or set KAGGLE_USERNAME and KAGGLE_KEY"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".kaggle-") as tmp:
        command = ["kaggle", "competitions", "download", "-c", competition, "-p", tmp]
        log.info("running %s", " ".join(command))
        proc = subprocess.run(command, capture_output=True, text=True)
        output = (proc.stdout + proc.stderr).strip()
        for line in output.splitlines():
            log.info("kaggle: %s", line)
        if proc.returncode != 0:
            lowered = output.lower()
            if "403" in output or "forbidden" in lowered or "rules" in lowered:
                raise DataError(
                    f"Kaggle refused the download of {competition!r} (403): accept the competition "
                    f"rules at https://www.kaggle.com/c/{competition}/rules while logged in, then run again"
                )
            if "401" in output or "unauthorized" in lowered or "credential" in lowered:
                raise DataError(
                    "Kaggle rejected the credentials (401): create a new token (Kaggle > Settings) "
                    "and replace ~/.kaggle/kaggle.json"
                )
            if "404" in output or "not found" in lowered:
                raise DataError(f"Kaggle has no competition {competition!r}: check data.kaggle_competition")
            last = output.splitlines()[-1] if output else f"exit status {proc.returncode}"
            raise DataError(f"kaggle download of {competition!r} failed: {last}")
        archives = sorted(Path(tmp).glob("*.zip"))
        if len(archives) != 1:
            raise DataError(
                f"kaggle download of {competition!r} produced {len(archives)} zip files, expected one"
            )
        with atomic_path(dest, temporary=archives[0]):
            return verify(archives[0], dest, sha256, what=f"kaggle competition {competition}")
