"""Download against a real HTTP server on 127.0.0.1: good, interrupted, wrong checksum, errors."""

from __future__ import annotations

import hashlib
import os
import stat
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import http_server

from convnet.core.download import download, kaggle_credentials_present, kaggle_download
from convnet.core.errors import DataError

PAYLOAD = os.urandom(3 * (1 << 20) + 12345)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    def __init__(self):
        self.cut_after: list[int] = []  # per request: send this many bytes, then drop the connection
        self.statuses: list[int] = []  # per request: answer with this status instead
        self.honour_range = True
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if server.statuses:
                    status = server.statuses.pop(0)
                    self.send_error(status)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after:
                    self.wfile.write(body[: server.cut_after.pop(0)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.handler = Handler


@pytest.fixture
def server():
    server = Server()
    with http_server(server.handler) as base:
        server.url = f"{base}/kagglecatsanddogs.zip"
        yield server


def test_good_transfer_is_verified_and_complete(server, tmp_path):
    dest = tmp_path / "a.zip"
    assert download(server.url, dest, sha256=SHA, backoff=0) == SHA
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.zip.part").exists()


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.cut_after = [1 << 20, 1 << 20]
    dest = tmp_path / "a.zip"
    assert download(server.url, dest, sha256=SHA, retries=3, backoff=0, timeout=5) == SHA
    assert dest.read_bytes() == PAYLOAD
    ranges = [r["range"] for r in server.requests]
    assert ranges == [None, f"bytes={1 << 20}-", f"bytes={2 << 20}-"]


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    server.honour_range = False
    server.cut_after = [1 << 20]
    dest = tmp_path / "a.zip"
    download(server.url, dest, sha256=SHA, retries=2, backoff=0, timeout=5)
    assert dest.read_bytes() == PAYLOAD


def test_interrupted_for_good_leaves_only_a_part_file_and_a_rerun_resumes(server, tmp_path):
    server.cut_after = [1 << 20, 1 << 20]
    dest = tmp_path / "a.zip"
    with pytest.raises(DataError, match="failed after 2 attempts.*run again to resume"):
        download(server.url, dest, retries=1, backoff=0, timeout=5)
    assert not dest.exists()
    assert (tmp_path / "a.zip.part").stat().st_size == 2 << 20
    download(server.url, dest, sha256=SHA, retries=0, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[-1]["range"] == f"bytes={2 << 20}-"


def test_wrong_checksum_is_refused_and_kept_aside(server, tmp_path):
    dest = tmp_path / "a.zip"
    with pytest.raises(DataError, match="data.sha256 pins") as info:
        download(server.url, dest, sha256="a" * 64, backoff=0)
    assert server.url in str(info.value)
    assert not dest.exists()
    assert (tmp_path / "a.zip.sha256-mismatch").read_bytes() == PAYLOAD


def test_server_errors_are_retried_then_succeed(server, tmp_path):
    server.statuses = [500, 503]
    download(server.url, tmp_path / "a.zip", sha256=SHA, retries=2, backoff=0)
    assert len(server.requests) == 3


def test_persistent_server_error_fails_clearly(server, tmp_path):
    server.statuses = [500] * 10
    with pytest.raises(DataError, match="HTTP 500"):
        download(server.url, tmp_path / "a.zip", retries=2, backoff=0)
    assert len(server.requests) == 3


def test_not_found_is_not_retried(server, tmp_path):
    server.statuses = [404]
    with pytest.raises(DataError, match="HTTP 404.*check data.url"):
        download(server.url, tmp_path / "a.zip", retries=5, backoff=0)
    assert len(server.requests) == 1


def test_file_url(tmp_path):
    src = tmp_path / "src.zip"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "a.zip"
    assert download(src.as_uri(), dest, sha256=SHA) == SHA
    with pytest.raises(DataError, match="check data.url"):
        download((tmp_path / "missing.zip").as_uri(), dest)


def test_kaggle_credentials_lookup(tmp_path):
    assert not kaggle_credentials_present({}, tmp_path)
    assert kaggle_credentials_present({"KAGGLE_USERNAME": "u", "KAGGLE_KEY": "k"}, tmp_path)
    (tmp_path / ".kaggle").mkdir()
    (tmp_path / ".kaggle" / "kaggle.json").write_text("{}")
    assert kaggle_credentials_present({}, tmp_path)


def fake_kaggle(bin_dir, script: str):
    bin_dir.mkdir(exist_ok=True)
    exe = bin_dir / "kaggle"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(
    "script, message",
    [
        ("echo '403 Client Error: Forbidden for url' >&2; exit 1", "accept the competition rules"),
        ("echo '401 Client Error: Unauthorized' >&2; exit 1", "rejected the credentials"),
    ],
)
def test_kaggle_errors_become_one_clear_line(tmp_path, monkeypatch, script, message):
    fake_kaggle(tmp_path / "bin", script)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    with pytest.raises(DataError, match=message):
        kaggle_download("dogs-vs-cats", tmp_path / "k.zip")
    assert not (tmp_path / "k.zip").exists()


def test_kaggle_without_credentials_or_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="pip install kaggle"):
        kaggle_download("dogs-vs-cats", tmp_path / "k.zip")
    fake_kaggle(tmp_path / "bin", "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(DataError, match="no Kaggle credentials"):
        kaggle_download("dogs-vs-cats", tmp_path / "k.zip")


def test_kaggle_success_moves_the_archive_into_place(tmp_path, monkeypatch):
    fake_kaggle(
        tmp_path / "bin", 'while [ "$1" != "-p" ]; do shift; done; printf zipbytes > "$2/dogs-vs-cats.zip"'
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    kaggle_download("dogs-vs-cats", tmp_path / "k.zip", sha256=hashlib.sha256(b"zipbytes").hexdigest())
    assert (tmp_path / "k.zip").read_bytes() == b"zipbytes"
