"""download_file and extract_archive against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from course_utils.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    find_folder,
)

PAYLOAD = bytes(range(256)) * 400  # 100 KiB


class Route:
    """What the server answers on one path: a status, a body, headers, and optional misbehaviour."""

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        content_type: str = "application/octet-stream",
        send_only: int | None = None,
        delay: float = 0.0,
    ) -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.send_only, self.delay = send_only, delay


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 serving :class:`Route` s and counting requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                route = server.routes.get(self.path, Route(b"<html>not found</html>", 404, "text/html"))
                time.sleep(route.delay)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body[: route.send_only])  # send_only=None sends everything
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.timeout = 5

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@contextmanager
def local_server() -> Iterator[LocalServer]:
    """Serve in a background thread; always shut down when the block ends."""
    server = LocalServer()
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with local_server() as running:
        yield running


def leftovers(folder: Path) -> list[str]:
    """Every name in ``folder`` (temporary files included)."""
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_good_download_is_verified_and_kept(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/data.bin"] = Route(PAYLOAD)
    dest = tmp_path / "data.bin"
    result = download_file(
        server.url("/data.bin"),
        dest,
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        md5=hashlib.md5(PAYLOAD).hexdigest(),
        progress=False,
    )
    assert result == dest and dest.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["data.bin"]
    # a verified file already there is not fetched again
    download_file(server.url("/data.bin"), dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert server.hits["/data.bin"] == 1


def test_bad_checksum_leaves_nothing(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/data.bin"] = Route(PAYLOAD)
    with pytest.raises(ChecksumError, match="sha256"):
        download_file(server.url("/data.bin"), tmp_path / "data.bin", sha256="0" * 64, progress=False, backoff=0)
    assert leftovers(tmp_path) == []
    assert server.hits["/data.bin"] == 1  # a wrong checksum is not retried


@pytest.mark.parametrize(("status", "attempts"), [(404, 1), (500, 3)])
def test_http_error_status_is_an_error(server: LocalServer, tmp_path: Path, status: int, attempts: int) -> None:
    server.routes["/file.zip"] = Route(b"<html>oops</html>", status, "text/html")
    with pytest.raises(DownloadError, match=str(status)):
        download_file(server.url("/file.zip"), tmp_path / "file.zip", retries=3, backoff=0, progress=False)
    assert server.hits["/file.zip"] == attempts  # server errors are retried, 404 is not
    assert leftovers(tmp_path) == []


def test_html_page_instead_of_file_is_an_error(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/file.zip"] = Route(b"<html>please log in</html>", 200, "text/html; charset=utf-8")
    with pytest.raises(DownloadError, match="HTML"):
        download_file(server.url("/file.zip"), tmp_path / "file.zip", backoff=0, progress=False)
    assert leftovers(tmp_path) == []


def test_interrupted_download_leaves_no_valid_looking_file(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/big.bin"] = Route(PAYLOAD, send_only=len(PAYLOAD) // 3)
    with pytest.raises(DownloadError):
        download_file(server.url("/big.bin"), tmp_path / "big.bin", retries=2, backoff=0, progress=False)
    assert server.hits["/big.bin"] == 2
    assert leftovers(tmp_path) == []


def test_timeout_is_an_error(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/slow.bin"] = Route(PAYLOAD, delay=1.0)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        download_file(server.url("/slow.bin"), tmp_path / "slow.bin", timeout=0.2, retries=1, progress=False)
    assert time.monotonic() - started < 1.0
    assert leftovers(tmp_path) == []


def test_unreachable_server_is_an_error(tmp_path: Path) -> None:
    with local_server() as stopped:
        url = stopped.url("/file.zip")
    with pytest.raises(DownloadError, match="could not download"):
        download_file(url, tmp_path / "file.zip", retries=2, backoff=0, progress=False)
    assert leftovers(tmp_path) == []


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_tar(members: dict[str, bytes], links: dict[str, str] | None = None, mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "tar"])
def test_extract_archive(tmp_path: Path, kind: str) -> None:
    members = {"repo-main/Data/Basalt/a.jpg": b"a", "repo-main/Data/Highland/b.jpg": b"b"}
    data = make_zip(members) if kind == "zip" else make_tar(members, mode="w:gz" if kind == "tar.gz" else "w")
    archive = tmp_path / f"archive.{kind}"
    archive.write_bytes(data)
    target = extract_archive(archive, tmp_path / "out")
    assert (target / "repo-main/Data/Basalt/a.jpg").read_bytes() == b"a"
    assert find_folder(target, "Data/Highland") == target / "repo-main/Data/Highland"
    assert leftovers(tmp_path) == ["archive." + kind, "out"]
    with pytest.raises(FileExistsError):
        extract_archive(archive, target)


@pytest.mark.parametrize(
    "data",
    [
        make_zip({"ok/a.txt": b"a", "../escaped.txt": b"evil"}),
        make_zip({"ok/a.txt": b"a", "ok/../../escaped.txt": b"evil"}),
        make_zip({"/tmp/escaped-absolute.txt": b"evil"}),
        make_tar({"ok/a.txt": b"a", "../escaped.txt": b"evil"}),
        make_tar({"ok/a.txt": b"a"}, links={"ok/link": "/etc"}),
        make_tar({"ok/a.txt": b"a"}, links={"ok/link": "../../outside"}),
    ],
    ids=["zip-dotdot", "zip-nested-dotdot", "zip-absolute", "tar-dotdot", "tar-symlink-absolute", "tar-symlink-up"],
)
def test_unsafe_archive_is_refused_and_writes_nothing(tmp_path: Path, data: bytes) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = tmp_path / "bad.archive"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract_archive(archive, work / "out")
    assert leftovers(work) == []  # no target, no temporary folder
    assert leftovers(tmp_path) == ["bad.archive", "work"]  # nothing escaped either


def test_safe_symlink_inside_target_is_allowed(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    archive.write_bytes(make_tar({"ok/a.txt": b"a"}, links={"ok/alias.txt": "a.txt"}, mode="w"))
    target = extract_archive(archive, tmp_path / "out")
    assert (target / "ok/alias.txt").read_bytes() == b"a"


def test_not_an_archive_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "page.zip"
    archive.write_bytes(b"<html>not a zip</html>")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(archive, tmp_path / "out")
    assert leftovers(tmp_path) == ["page.zip"]
