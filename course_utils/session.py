"""``setup()``: the first call of every notebook (seeds, device, profile, data and checkpoint roots)."""

from __future__ import annotations

import json
import os
import platform
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .profiles import Profile, get_profile

DATA_DIR_ENV = "COURSE_DATA_DIR"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"
DOWNLOAD_DIR_ENV = "COURSE_DOWNLOAD_DIR"
CHECKPOINT_DIR_ENV = "COURSE_CHECKPOINT_DIR"
RETRAIN_ENV = "COURSE_RETRAIN"
STANDIN_LOG_ENV = "COURSE_STANDIN_LOG"
"""A file to which each stand-in dataset is appended as one JSON line (``tools/run_notebooks.py`` sets it)."""
CPU_SECONDS_PER_EPOCH = 100
"""Measured: one full-profile epoch of notebook 01's CNN on a 2-core CPU (the whole notebook took ~17 min)."""

DRIVE_MOUNT_POINT = Path("/content/drive")
DRIVE_COURSE_DIR = DRIVE_MOUNT_POINT / "MyDrive" / "cnn-course"
USER_CACHE_DIR = Path.home() / ".cache" / "cnn-course"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Course:
    """What ``setup()`` decided; notebooks and ``course_utils`` read it through :func:`current`."""

    seed: int
    device: torch.device
    profile: Profile
    data_dir: Path | None
    """``COURSE_DATA_DIR`` when set: a folder laid out like the course's shared data."""
    cache_dir: Path
    """Where datasets are unpacked: always a local disk (Drive is far too slow for thousands of small files)."""
    download_dir: Path
    """Where downloaded archives are kept: Google Drive when mounted, so a new Colab machine unpacks
    them again without downloading."""
    checkpoint_dir: Path
    """Where checkpoints live, one sub-folder per profile (Google Drive on Colab when mounted)."""
    on_colab: bool
    drive_mounted: bool
    retrain: bool = False
    """``COURSE_RETRAIN=1``: train again even when a finished checkpoint exists."""
    synthetic: set[str] = field(default_factory=set)
    """Datasets replaced by a generated stand-in (quick profile only); shown in every plot title."""

    def checkpoint_path(self, name: str) -> Path:
        """The checkpoint file for a named run, e.g. ``course.checkpoint_path("lenet5_cats_dogs")``."""
        return self.checkpoint_dir / self.profile.name / f"{name}.pt"

    @property
    def data_source(self) -> str:
        if self.data_dir is not None:
            return f"{DATA_DIR_ENV}={self.data_dir}"
        where = f"cache {self.cache_dir}"
        if self.download_dir.parent != self.cache_dir:
            where += f", archives in {self.download_dir}"
        return where + " (downloads when missing)"

    def banner(self) -> str:
        """Versions and device; profile, seed and folders; and a warning when the full profile runs on a CPU."""
        import torchvision

        environment = [
            f"Python {platform.python_version()}",
            f"torch {torch.__version__}",
            f"torchvision {torchvision.__version__}",
            f"device={device_description(self.device)}",
        ]
        parts = [
            f"profile={self.profile.name}",
            f"seed={self.seed}",
            f"data={self.data_source}",
            f"checkpoints={self.checkpoint_dir}",
        ]
        if self.on_colab:
            parts.append("colab" + (" + drive" if self.drive_mounted else " (drive not mounted)"))
        if self.synthetic:
            parts.append(synthetic_warning(self.synthetic))
        lines = [environment, parts]
        if self.device.type == "cpu" and not self.profile.is_quick:
            lines.append([slow_profile_warning(self.profile.epochs)])
        return "\n".join("course_utils | " + " | ".join(line) for line in lines)


_current: Course | None = None


def current() -> Course | None:
    """The :class:`Course` made by the last ``setup()`` call, or ``None`` before it."""
    return _current


def device_description(device: torch.device) -> str:
    """``cuda (NVIDIA T4)``, ``mps (Apple GPU)`` or ``cpu (8 cores)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"{device.type} ({os.cpu_count()} cores)"


def slow_profile_warning(epochs: int) -> str:
    """What a student on a CPU needs to know before the first training cell of the full profile."""
    minutes = round(epochs * CPU_SECONDS_PER_EPOCH / 60)
    return (
        f"!! full profile on a CPU: a training run takes ~{minutes} min ({epochs} epochs of ~{CPU_SECONDS_PER_EPOCH} s "
        'for notebook 01; bigger networks take longer). For a quick run: cu.setup(profile="quick") or '
        "COURSE_PROFILE=quick; on Colab choose a GPU (Runtime > Change runtime type) !!"
    )


def synthetic_warning(names: set[str] | list[str]) -> str:
    return "!! SYNTHETIC STAND-IN DATA (" + ", ".join(sorted(names)) + ") - not real images !!"


def mark_synthetic(dataset: str, reason: str = "") -> None:
    """Record that ``dataset`` is a generated stand-in, and say so loudly (on stderr: red in Jupyter).

    ``reason`` says why the real data could not be had; with ``COURSE_STANDIN_LOG`` set, both are
    appended to that file as one JSON line (how ``make course`` learns which notebooks ran on stand-ins).
    """
    course = _current
    if course is not None:
        course.synthetic.add(dataset)
    print(synthetic_warning([dataset]) + (f"\n   why: {reason}" if reason else ""), file=sys.stderr)
    log = os.environ.get(STANDIN_LOG_ENV, "").strip()
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps({"dataset": dataset, "reason": reason}) + "\n")


def data_notice() -> str:
    """Text appended to plot titles: empty for real data, a loud warning for stand-in data."""
    course = _current
    if course is None or not course.synthetic:
        return ""
    return "\n" + synthetic_warning(course.synthetic)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) and ask cuDNN for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU (``preferred`` overrides)."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def on_colab() -> bool:
    return "google.colab" in sys.modules


def mount_google_drive() -> bool:
    """Mount Google Drive on Colab (asks the student for permission); ``False`` elsewhere."""
    if not on_colab():
        return False
    if not (DRIVE_MOUNT_POINT / "MyDrive").is_dir():
        from google.colab import drive  # type: ignore[import-not-found]

        drive.mount(str(DRIVE_MOUNT_POINT))
    return (DRIVE_MOUNT_POINT / "MyDrive").is_dir()


def env_path(name: str) -> Path | None:
    """The folder an environment variable names, or ``None`` when it is unset or empty.

    A relative path is read from the repository root when running from a checkout (where the README's
    commands are typed), not from the kernel's working folder, which is ``notebooks/``.
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and course_root() == REPO_ROOT:
        path = REPO_ROOT / path
    return path.resolve()


def course_root(drive_mounted: bool = False) -> Path:
    """Drive when mounted; the repository checkout when running from one; else the user cache."""
    if drive_mounted:
        return DRIVE_COURSE_DIR
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir():
        return REPO_ROOT
    return USER_CACHE_DIR


def data_folders(
    drive_mounted: bool = False,
    *,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download_dir: str | Path | None = None,
) -> tuple[Path | None, Path, Path]:
    """``(data_dir, cache_dir, download_dir)``: the one rule ``setup()`` and ``load_dataset`` follow.

    Folders given win. The others come from ``COURSE_DATA_DIR``, ``COURSE_CACHE_DIR`` and
    ``COURSE_DOWNLOAD_DIR``, else the defaults: unpacked datasets in ``data/`` of a checkout or the
    user cache (never Drive), archives on Drive when mounted, else beside the unpacked datasets. A
    ``cache_dir`` given without a ``download_dir`` keeps its archives beside it (``cache_dir/_downloads``).
    """
    data = Path(data_dir) if data_dir is not None else env_path(DATA_DIR_ENV)
    cache = Path(cache_dir) if cache_dir is not None else (env_path(CACHE_DIR_ENV) or course_root() / "data")
    if download_dir is not None:
        downloads = Path(download_dir)
    elif cache_dir is not None:
        downloads = cache / "_downloads"
    else:
        default = DRIVE_COURSE_DIR / "downloads" if drive_mounted else cache / "_downloads"
        downloads = env_path(DOWNLOAD_DIR_ENV) or default
    return data, cache, downloads


def default_data_dir() -> Path | None:
    return data_folders()[0]


def default_cache_dir() -> Path:
    """Unpacked datasets: ``data/`` in a checkout, else the user cache; never Drive."""
    return data_folders()[1]


def default_download_dir(drive_mounted: bool = False) -> Path:
    """Downloaded archives: on Drive when mounted, else beside the unpacked datasets."""
    return data_folders(drive_mounted)[2]


def default_checkpoint_dir(drive_mounted: bool = False) -> Path:
    return env_path(CHECKPOINT_DIR_ENV) or course_root(drive_mounted) / "checkpoints"


def setup(
    seed: int = 42,
    *,
    mount_drive: bool = False,
    device: str | None = None,
    profile: str | None = None,
    quiet: bool = False,
) -> Course:
    """Prepare a notebook: seed everything, pick the device, read the profile, find data and checkpoints.

    ``profile`` (``"quick"`` or ``"full"``) overrides ``COURSE_PROFILE``. Prints the banner unless
    ``quiet``: versions and device, profile and folders, and a warning when the full profile runs on a CPU.
    """
    global _current
    seed_everything(seed)
    colab = on_colab()
    drive_mounted = mount_google_drive() if (colab and mount_drive) else (DRIVE_MOUNT_POINT / "MyDrive").is_dir()
    course = Course(
        seed=seed,
        device=pick_device(device),
        profile=get_profile(profile),
        data_dir=default_data_dir(),
        cache_dir=default_cache_dir(),
        download_dir=default_download_dir(drive_mounted),
        checkpoint_dir=default_checkpoint_dir(drive_mounted),
        on_colab=colab,
        drive_mounted=drive_mounted,
        retrain=os.environ.get(RETRAIN_ENV, "").strip() not in ("", "0", "false", "no"),
    )
    _current = course
    if not quiet:
        print(course.banner())
    return course
