"""Downloads that never leave a half-written file behind, and archive extraction that cannot escape.

:func:`download_file` writes to a temporary name beside ``dest``, checks the size and checksum (or,
for an archive without one, reads it to the end), and only then renames it; :func:`extract_archive`
checks every member of a zip or tar, following the archive's own links, before extracting into a
temporary folder that is renamed when complete.
"""

from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .atomic import atomic_path, remove_stale_temporaries

USER_AGENT = "cnn-course-data/1.0 (+https://github.com/cnn-course/cnn-image-classification)"
CHUNK_BYTES = 1 << 20
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
DEADLINE_SECONDS = 30 * 60
"""The longest a whole download may take, retries included (each read also has its own timeout)."""
STALE_PART_SECONDS = 10 * 60
"""A temporary ``.part`` file untouched this long was left by a download that was killed."""
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MAX_LINKS = 40
"""Symlinks followed while resolving one archive path (like the OS's limit): more means a loop."""


class DownloadError(RuntimeError):
    """A download failed (network, HTTP status, HTML page, size or checksum); nothing was kept."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected checksum."""


class IncompleteDownloadError(DownloadError):
    """The connection ended before ``Content-Length`` bytes arrived (retried)."""


class DeadlineError(DownloadError):
    """The whole download took longer than its deadline (not retried)."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would land outside the extraction folder (or is not a plain file/folder)."""


class DamagedArchiveError(ValueError):
    """An archive that cannot be read to the end: cut short, corrupt, or not a zip or tar at all."""


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file (``"sha256"``, ``"md5"``, ...)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_digests(sha256: str | None, md5: str | None) -> dict[str, str]:
    return {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}


def is_archive_name(name: str | Path) -> bool:
    """Whether a file name ends like a zip or tar archive."""
    return str(name).lower().endswith(ARCHIVE_SUFFIXES)


def _fetch_once(
    url: str, temporary: Path, *, timeout: float, stop: float, digests: dict[str, str], progress: bool, label: str
) -> None:
    """Stream ``url`` into ``temporary``, hashing on the way; raise on any sign of a bad response,
    and with :class:`DeadlineError` once ``time.monotonic()`` passes ``stop``."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    hashes = {name: hashlib.new(name) for name in digests}
    with urllib.request.urlopen(request, timeout=max(0.01, min(timeout, stop - time.monotonic()))) as response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
            raise DownloadError(f"{url} returned an HTML page ({content_type}), not the file: is the URL still valid?")
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with (
            open(temporary, "wb") as file,
            tqdm(total=expected, unit="B", unit_scale=True, desc=label, disable=not progress) as bar,
        ):
            while block := response.read1(CHUNK_BYTES):  # what has arrived: a slow server cannot block the deadline
                file.write(block)
                for digest in hashes.values():
                    digest.update(block)
                received += len(block)
                bar.update(len(block))
                if time.monotonic() > stop:
                    raise DeadlineError(f"{url}: not finished by its deadline ({received:,} bytes received)")
    if expected is not None and received != expected:
        raise IncompleteDownloadError(f"{url}: incomplete download, got {received} of {expected} bytes")
    for name, digest in hashes.items():
        if digest.hexdigest() != digests[name]:
            raise ChecksumError(f"{url}: {name} is {digest.hexdigest()}, expected {digests[name]}")


def _check_arrived_whole(url: str, archive: Path) -> None:
    """A body cut short without ``Content-Length`` looks complete: read the archive to its end."""
    try:
        verify_archive(archive)
    except DamagedArchiveError as error:
        raise IncompleteDownloadError(f"{url}: the archive arrived damaged or incomplete ({error})") from None


def _worth_retrying(error: Exception) -> bool:
    """Network errors, timeouts, HTTP 5xx/429 and short reads may pass; the rest will not."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code in RETRY_STATUSES
    if isinstance(error, DownloadError):
        return isinstance(error, IncompleteDownloadError)  # not an HTML page, a wrong checksum, a deadline
    return True


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 1.0,
    deadline: float = DEADLINE_SECONDS,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``.

    An existing ``dest`` that matches the checksums (if any are given) is kept as it is. Without a
    checksum, an archive (``.zip``, ``.tar.gz``, ...) is read to the end before it is kept, so a body
    cut short is never mistaken for a whole one. Network errors, timeouts, HTTP 5xx/429 and short
    reads are retried ``retries`` times in all, waiting ``backoff``, 2x, 4x ... seconds, with a line
    printed for each retry; other HTTP errors, HTML pages and checksum mismatches fail at once. Each
    read waits at most ``timeout`` seconds and the whole download, retries included, at most
    ``deadline`` seconds. A tqdm bar shows the bytes (``progress``). On failure no file is left at
    ``dest`` or beside it, and :class:`DownloadError` is raised. Temporary files that a killed
    download left beside ``dest`` are removed.
    """
    dest = Path(dest)
    digests = _expected_digests(sha256, md5)
    if dest.parent.is_dir():
        remove_stale_temporaries(dest, ".part", older_than=STALE_PART_SECONDS)
    if dest.is_file() and all(file_digest(dest, name) == value for name, value in digests.items()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    stop = time.monotonic() + deadline
    attempts = max(1, retries)
    for attempt in range(1, attempts + 1):
        try:
            with atomic_path(dest, suffix=".part") as temporary:
                _fetch_once(
                    url, temporary, timeout=timeout, stop=stop, digests=digests, progress=progress, label=dest.name
                )
                if not digests and is_archive_name(dest):  # no checksum: the archive's own structure tells
                    _check_arrived_whole(url, temporary)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError, DownloadError) as error:
            last_error: Exception = error  # URLError and HTTPError are OSErrors: network errors, timeouts
        wait = backoff * 2 ** (attempt - 1)
        if attempt == attempts or not _worth_retrying(last_error) or time.monotonic() + wait >= stop:
            break
        print(f"{dest.name}: attempt {attempt} of {attempts} failed ({last_error}); retrying in {wait:g} s")
        time.sleep(wait)
    if isinstance(last_error, DeadlineError):
        raise DeadlineError(f"{last_error}; the deadline for the whole download is {deadline:g} s") from None
    if isinstance(last_error, DownloadError):
        raise last_error
    raise DownloadError(f"could not download {url} ({attempt} attempts): {last_error}") from last_error


def _is_absolute(name: str) -> bool:
    return name.startswith("/") or (len(name) > 1 and name[1] == ":")


def _is_outside(name: str) -> bool:
    """Whether an archive member name is absolute or climbs out with ``..``."""
    name = name.replace("\\", "/")
    return _is_absolute(name) or ".." in PurePosixPath(name).parts


def _key(name: str) -> str:
    """A member name as the archive's other members refer to it (no ``./``, no trailing ``/``)."""
    return "/".join(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def _stays_inside(name: str, links: dict[str, str]) -> bool:
    """Whether ``name`` lands inside the extraction folder once the archive's own symlinks (``links``:
    member name -> target) are followed, however they chain (a loop counts as escaping)."""
    name = name.replace("\\", "/")
    if _is_absolute(name):
        return False
    pending = name.split("/")
    resolved: list[str] = []
    followed = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return False
            resolved.pop()
            continue
        target = links.get("/".join([*resolved, part]))
        if target is None:
            resolved.append(part)
            continue
        followed += 1
        target = target.replace("\\", "/")
        if followed > MAX_LINKS or _is_absolute(target):
            return False
        pending = target.split("/") + pending  # relative to the link's own folder
    return True


def _check_members(members: Iterable[tuple[str, str, str]]) -> None:
    """Refuse an archive unless every ``(name, kind, link target)`` member, followed through the
    archive's symlinks, stays inside the target. ``kind``: file, dir, symlink, hardlink or other."""
    members = list(members)
    links = {_key(name): target for name, kind, target in members if kind == "symlink"}
    for name, kind, target in members:
        if _is_outside(name):
            raise UnsafeArchiveError(f"refusing archive member {name!r}: it would be written outside the target")
        if kind == "other":
            raise UnsafeArchiveError(f"refusing archive member {name!r}: not a file, folder or link")
        if kind == "symlink" and not _stays_inside(name, links):
            raise UnsafeArchiveError(f"refusing symlink {name!r} -> {target!r}: it points outside the target")
        if kind == "hardlink" and (_is_outside(target) or not _stays_inside(target, links)):
            raise UnsafeArchiveError(f"refusing hard link {name!r} -> {target!r}: it points outside the target")
        if not _stays_inside(name, links):
            raise UnsafeArchiveError(f"refusing archive member {name!r}: a symlink on its path leads outside")


def _zip_members(archive: zipfile.ZipFile) -> Iterator[tuple[str, str, str]]:
    for info in archive.infolist():
        if stat.S_ISLNK(info.external_attr >> 16):
            yield info.filename, "symlink", archive.read(info).decode("utf-8", "replace")
        else:
            yield info.filename, "dir" if info.is_dir() else "file", ""


def _tar_members(archive: tarfile.TarFile) -> Iterator[tuple[str, str, str]]:
    for member in archive.getmembers():
        kinds = {"file": member.isfile(), "dir": member.isdir(), "symlink": member.issym(), "hardlink": member.islnk()}
        yield member.name, next((kind for kind, found in kinds.items() if found), "other"), member.linkname


DAMAGE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)
"""What reading a damaged archive raises (an ``OSError`` only when it has no ``errno``: a decompressor's
data error, not a full disk or a missing permission)."""


@contextmanager
def _reading(archive: Path) -> Iterator[None]:
    """Turn the many ways a damaged archive fails into one :class:`DamagedArchiveError` naming it."""
    try:
        yield
    except tarfile.FilterError as error:  # Python's own extraction filter: unsafe, not damaged
        raise UnsafeArchiveError(f"refusing {archive.name}: {error}") from error
    except DAMAGE as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise
        problem = f"{type(error).__name__}: {error}"
        raise DamagedArchiveError(f"{archive.name} is damaged or incomplete ({problem})") from error


def _drain(file) -> int:
    """Read ``file`` to its end; return the bytes read."""
    total = 0
    while block := file.read(CHUNK_BYTES):
        total += len(block)
    return total


def verify_archive(archive: str | Path) -> None:
    """Read a zip or tar(.gz/.bz2/.xz) archive to the end, checking what its format can check (zip
    CRCs, the compressor's checksum and length, tar headers and its end), or raise :class:`DamagedArchiveError`."""
    archive = Path(archive)
    with _reading(archive):
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                bad = opened.testzip()
            if bad is not None:
                raise DamagedArchiveError(f"{archive.name} is damaged: {bad!r} fails its CRC check")
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as opened:
                end, block = 0, tarfile.BLOCKSIZE
                for member in opened:  # a member's data fills whole blocks
                    end = member.offset_data + (member.size + block - 1) // block * block
                stream = opened.fileobj
                length = stream.tell() + _drain(stream)  # a compressed stream checks itself at its end
            if length < end + 2 * block:  # a tar ends with two empty blocks
                raise DamagedArchiveError(f"{archive.name} is cut short: it ends inside its last member")
        else:
            raise DamagedArchiveError(f"{archive} is neither a zip nor a tar archive")


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

    Every member is checked first, following the archive's own symlinks however they chain:
    absolute paths, ``..`` and anything that would land outside raise :class:`UnsafeArchiveError`
    and nothing is written. An archive that is cut short or corrupt raises
    :class:`DamagedArchiveError`. Extraction goes to a temporary folder beside ``target`` that is
    renamed only when complete. ``target`` must not exist yet.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or choose another folder")
    with staged_folder(target) as temporary, _reading(archive):
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as opened:
                _check_members(_zip_members(opened))
                opened.extractall(temporary)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as opened:
                _check_members(_tar_members(opened))
                if hasattr(tarfile, "data_filter"):  # Python >= 3.12 and recent 3.8-3.11 releases: a second guard
                    opened.extractall(temporary, filter="data")
                else:
                    opened.extractall(temporary)
        else:
            raise DamagedArchiveError(f"{archive} is neither a zip nor a tar archive")
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

