"""download_file and extract_archive against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import io
import os
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
    DamagedArchiveError,
    DownloadError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    find_folder,
    verify_archive,
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
        content_length: bool = True,
        trickle: float = 0.0,
    ) -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.send_only, self.delay = send_only, delay
        self.content_length = content_length
        """``False``: no ``Content-Length`` header (the client cannot tell a cut body from a whole one)."""
        self.trickle = trickle
        """Seconds to wait between 1 KiB pieces of the body (a slow server)."""


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
                if route.content_length:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                body = route.body[: route.send_only]  # send_only=None sends everything
                pieces = [body[i : i + 1024] for i in range(0, len(body), 1024)] if route.trickle else [body]
                try:
                    for piece in pieces:
                        self.wfile.write(piece)
                        self.wfile.flush()
                        time.sleep(route.trickle)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a deadline): nothing to report
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


def make_tar(
    members: dict[str, bytes],
    links: dict[str, str] | None = None,
    mode: str = "w:gz",
    after_links: dict[str, bytes] | None = None,
) -> bytes:
    """A tar of ``members``, then symlinks ``links`` (name -> target), then files ``after_links``."""
    buffer = io.BytesIO()

    def add_files(files: dict[str, bytes]) -> None:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        add_files(members)
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
        add_files(after_links or {})
    return buffer.getvalue()


ESCAPING_CHAIN = {"d/up": "..", "d/esc": "up/.."}
"""Each link alone stays inside (``d/..`` and ``d/up/..`` look like the root), but ``d/up`` *is* the
root, so ``d/esc`` resolves to the folder above it."""


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
        make_tar({"ok/a.txt": b"a"}, links=ESCAPING_CHAIN),
        make_tar({}, links=ESCAPING_CHAIN, after_links={"d/esc/evil.txt": b"evil"}),
        make_tar({}, links={"a": "b", "b": "a"}),
    ],
    ids=[
        "zip-dotdot", "zip-nested-dotdot", "zip-absolute", "tar-dotdot", "tar-symlink-absolute", "tar-symlink-up",
        "tar-symlink-chain", "tar-file-through-symlink-chain", "tar-symlink-loop",
    ],
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


@pytest.mark.parametrize(
    "data",
    [
        make_tar({}, links=ESCAPING_CHAIN),
        make_tar({}, links=ESCAPING_CHAIN, after_links={"d/esc/evil.txt": b"evil"}),
    ],
    ids=["symlink-chain", "file-through-symlink-chain"],
)
def test_own_member_check_refuses_link_chains_without_pythons_filter(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older Pythons have no ``tarfile.data_filter``: the project's own check must resolve link chains."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    archive = tmp_path / "chain.tar"
    archive.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        extract_archive(archive, work / "out")
    assert leftovers(work) == []


def damaged_archives() -> dict[str, bytes]:
    """A ``.tar.gz`` cut in half and a zip whose stored bytes no longer match their CRC."""
    payload = bytes(range(256)) * 200
    whole = make_tar({"top/a.bin": payload, "top/b.bin": payload[::-1]})
    stored = make_zip({"top/a.bin": payload})
    at = stored.index(payload) + 1000
    return {
        "truncated.tar.gz": whole[: len(whole) // 2],
        "bad-crc.zip": stored[:at] + bytes([stored[at] ^ 0xFF]) + stored[at + 1 :],
    }


@pytest.mark.parametrize("name", sorted(damaged_archives()))
def test_damaged_archive_is_a_damaged_archive_error(tmp_path: Path, name: str) -> None:
    archive = tmp_path / name
    archive.write_bytes(damaged_archives()[name])
    with pytest.raises(DamagedArchiveError, match=name):
        extract_archive(archive, tmp_path / "out")
    with pytest.raises(DamagedArchiveError):
        verify_archive(archive)
    assert leftovers(tmp_path) == [name]


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_archive_cut_short_without_content_length_is_not_kept(server: LocalServer, tmp_path: Path, kind: str) -> None:
    payload = bytes(range(256)) * 400
    whole = make_zip({"top/a.bin": payload}) if kind == "zip" else make_tar({"top/a.bin": payload})
    server.routes[f"/cut.{kind}"] = Route(whole, content_length=False, send_only=len(whole) // 2)
    with pytest.raises(DownloadError, match="damaged|incomplete"):
        download_file(server.url(f"/cut.{kind}"), tmp_path / f"cut.{kind}", retries=2, backoff=0, progress=False)
    assert server.hits[f"/cut.{kind}"] == 2  # a cut body may be whole next time: retried
    assert leftovers(tmp_path) == []
    server.routes[f"/whole.{kind}"] = Route(whole, content_length=False)  # and a whole one is kept
    assert download_file(server.url(f"/whole.{kind}"), tmp_path / f"whole.{kind}", progress=False).read_bytes() == whole


def test_slow_download_stops_at_its_deadline(server: LocalServer, tmp_path: Path) -> None:
    server.routes["/slow.zip"] = Route(PAYLOAD, trickle=0.05)  # 100 pieces: about 5 s in all
    with pytest.raises(DownloadError, match="deadline"):
        download_file(server.url("/slow.zip"), tmp_path / "slow.zip", deadline=0.3, timeout=5, progress=False)
    assert server.hits["/slow.zip"] == 1  # no retry once the deadline has passed
    assert leftovers(tmp_path) == []


def test_each_retry_is_announced_and_progress_is_shown(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    server.routes["/flaky.bin"] = Route(b"oops", 503)
    with pytest.raises(DownloadError):
        download_file(server.url("/flaky.bin"), tmp_path / "flaky.bin", retries=3, backoff=0)
    retries = [line for line in capsys.readouterr().out.splitlines() if "retrying" in line]
    assert len(retries) == 2 and "503" in retries[0] and "attempt 1 of 3" in retries[0]
    server.routes["/data.bin"] = Route(PAYLOAD)
    download_file(server.url("/data.bin"), tmp_path / "data.bin")
    assert "data.bin" in capsys.readouterr().err  # tqdm's byte bar


def test_stale_temporary_files_of_a_killed_download_are_removed(server: LocalServer, tmp_path: Path) -> None:
    stale, fresh = tmp_path / ".data.bin.k1ll3d.part", tmp_path / ".data.bin.w0rk1ng.part"
    for path in (stale, fresh):
        path.write_bytes(b"half a download")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    server.routes["/data.bin"] = Route(PAYLOAD)
    download_file(server.url("/data.bin"), tmp_path / "data.bin", progress=False)
    assert leftovers(tmp_path) == [fresh.name, "data.bin"]  # a recent one may belong to a running download
