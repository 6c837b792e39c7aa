"""Downloads that never leave a half-written file behind, and archive extraction that cannot escape.

:func:`download_file` writes to a temporary name beside ``dest``, checks the size and checksum, and
only then renames it; :func:`extract_archive` checks every member of a zip or tar before extracting
into a temporary folder that is renamed when complete.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .atomic import atomic_path

USER_AGENT = "cnn-course-data/1.0 (+https://github.com/cnn-course/cnn-image-classification)"
CHUNK_BYTES = 1 << 20
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download failed (network, HTTP status, HTML page, size or checksum); nothing was kept."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected checksum."""


class IncompleteDownloadError(DownloadError):
    """The connection ended before ``Content-Length`` bytes arrived (retried)."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would land outside the extraction folder (or is not a plain file/folder)."""


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file (``"sha256"``, ``"md5"``, ...)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_digests(sha256: str | None, md5: str | None) -> dict[str, str]:
    return {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}


def _fetch_once(url: str, temporary: Path, timeout: float, digests: dict[str, str], progress: bool, label: str) -> None:
    """Stream ``url`` into ``temporary``, hashing on the way; raise on any sign of a bad response."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    hashes = {name: hashlib.new(name) for name in digests}
    with urllib.request.urlopen(request, timeout=timeout) as response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            raise DownloadError(f"{url} returned an HTML page ({content_type}), not the file: is the URL still valid?")
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with (
            open(temporary, "wb") as file,
            tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                desc=label,
                disable=not progress,
            ) as bar,
        ):
            while block := response.read(CHUNK_BYTES):
                file.write(block)
                for digest in hashes.values():
                    digest.update(block)
                received += len(block)
                bar.update(len(block))
    if expected is not None and received != expected:
        raise IncompleteDownloadError(f"{url}: incomplete download, got {received} of {expected} bytes")
    for name, digest in hashes.items():
        if digest.hexdigest() != digests[name]:
            raise ChecksumError(f"{url}: {name} is {digest.hexdigest()}, expected {digests[name]}")


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    An existing ``dest`` that matches the checksums (if any are given) is kept as it is. Network
    errors, timeouts, HTTP 5xx/429 and short reads are retried ``retries`` times in all, waiting
    ``backoff``, 2x, 4x ... seconds; other HTTP errors, HTML pages and checksum mismatches fail at
    once. On failure no file is left at ``dest`` or beside it, and :class:`DownloadError` is raised.
    """
    dest = Path(dest)
    digests = _expected_digests(sha256, md5)
    if dest.is_file() and all(file_digest(dest, name) == value for name, value in digests.items()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for attempt in range(max(1, retries)):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with atomic_path(dest, suffix=".part") as temporary:
                _fetch_once(url, temporary, timeout, digests, progress, dest.name)
            return dest
        except urllib.error.HTTPError as error:
            last_error = error
            if error.code not in RETRY_STATUSES:
                break
        except DownloadError as error:
            last_error = error
            if not isinstance(error, IncompleteDownloadError):
                break  # an HTML page or a wrong checksum will not get better by asking again
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            last_error = error  # network errors, timeouts, connections closed early
    if isinstance(last_error, DownloadError):
        raise last_error
    raise DownloadError(f"could not download {url} ({attempt + 1} attempts): {last_error}") from last_error


def _is_outside(name: str) -> bool:
    """Whether an archive member name is absolute or climbs out with ``..``."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _link_escapes(member_name: str, link_target: str) -> bool:
    """Whether a symlink at ``member_name`` pointing to ``link_target`` resolves outside the root."""
    if PurePosixPath(link_target).is_absolute() or (len(link_target) > 1 and link_target[1] == ":"):
        return True
    depth = 0
    for part in (PurePosixPath(member_name).parent / link_target).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


def _check_zip(archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        if _is_outside(info.filename):
            raise UnsafeArchiveError(
                f"refusing archive member {info.filename!r}: it would be written outside the target"
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            target = archive.read(info).decode("utf-8", "replace")
            if _link_escapes(info.filename, target):
                raise UnsafeArchiveError(
                    f"refusing symlink {info.filename!r} -> {target!r}: it points outside the target"
                )


def _check_tar(archive: tarfile.TarFile) -> None:
    for member in archive.getmembers():
        if _is_outside(member.name):
            raise UnsafeArchiveError(f"refusing archive member {member.name!r}: it would be written outside the target")
        if member.issym() and _link_escapes(member.name, member.linkname):
            raise UnsafeArchiveError(
                f"refusing symlink {member.name!r} -> {member.linkname!r}: it points outside the target"
            )
        if member.islnk() and _is_outside(member.linkname):
            raise UnsafeArchiveError(
                f"refusing hard link {member.name!r} -> {member.linkname!r}: it points outside the target"
            )
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise UnsafeArchiveError(f"refusing archive member {member.name!r}: not a file, folder or link")


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``target``; when the block completes it is renamed to
    ``target``, when it fails it is removed. If another process created ``target`` meanwhile, that
    one is kept and ours is discarded."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        yield temporary
        try:
            os.replace(temporary, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def extract_archive(archive: str | Path, target: str | Path) -> Path:
    """Extract a zip or tar(.gz/.bz2/.xz) ``archive`` into the new folder ``target`` and return it.

    Every member is checked first: absolute paths, ``..`` and links pointing outside raise
    :class:`UnsafeArchiveError` and nothing is written. Extraction goes to a temporary folder beside
    ``target`` that is renamed only when complete. ``target`` must not exist yet.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or choose another folder")
    with staged_folder(target) as temporary:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                _check_zip(opened)
                opened.extractall(temporary)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as opened:
                _check_tar(opened)
                if hasattr(tarfile, "data_filter"):  # Python >= 3.12 and recent 3.8-3.11 releases
                    opened.extractall(temporary, filter="data")
                else:
                    opened.extractall(temporary)
        else:
            raise ValueError(f"{archive} is neither a zip nor a tar archive")
    return target


def find_folder(root: str | Path, relative: str) -> Path:
    """The folder under ``root`` whose path ends with ``relative`` (e.g. ``"Data/Basalt"``), the
    shallowest one when several do; found wherever an archive's top folder put it."""
    parts = PurePosixPath(relative).parts
    matches = sorted(
        (Path(folder) for folder, _, _ in os.walk(root) if Path(folder).parts[-len(parts) :] == parts),
        key=lambda folder: (len(folder.parts), str(folder)),
    )
    if not matches:
        raise FileNotFoundError(f"no folder ending in {relative!r} under {root}")
    return matches[0]
