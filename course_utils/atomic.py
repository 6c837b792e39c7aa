"""Write a file so that readers see the old content or the new one, never half of it."""

from __future__ import annotations

import glob
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _default_mode() -> int:
    """What ``open()`` would give a new file (0o666 less the umask); ``mkstemp`` alone gives 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(destination: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; write to it in the ``with`` block.

    When the block completes, the file is fsynced, given normal permissions and renamed over
    ``destination`` with :func:`os.replace`. When it raises, the temporary file is removed and
    ``destination`` is left as it was.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, _default_mode())
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_folder(destination.parent)


def remove_stale_temporaries(destination: str | Path, suffix: str = ".tmp", *, older_than: float) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left beside ``destination`` when its process was
    killed: those not modified for ``older_than`` seconds (a newer one may belong to a write in progress)."""
    destination = Path(destination)
    cutoff = time.time() - older_than
    removed = []
    for path in destination.parent.glob(f".{glob.escape(destination.name)}.*{suffix}"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except OSError:
            pass  # gone already, or not ours to remove
    return removed
