"""``setup()``: the first call of every notebook (seeds, device, profile, data and checkpoint roots)."""

from __future__ import annotations

import os
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
        parts = [
            f"device={self.device.type}",
            f"profile={self.profile.name}",
            f"seed={self.seed}",
            f"data={self.data_source}",
            f"checkpoints={self.checkpoint_dir}",
        ]
        if self.on_colab:
            parts.append("colab" + (" + drive" if self.drive_mounted else " (drive not mounted)"))
        line = "course_utils | " + " | ".join(parts)
        if self.synthetic:
            line += " | " + synthetic_warning(self.synthetic)
        return line


_current: Course | None = None


def current() -> Course | None:
    """The :class:`Course` made by the last ``setup()`` call, or ``None`` before it."""
    return _current


def synthetic_warning(names: set[str] | list[str]) -> str:
    return "!! SYNTHETIC STAND-IN DATA (" + ", ".join(sorted(names)) + ") - not real images !!"


def mark_synthetic(dataset: str) -> None:
    """Record that ``dataset`` is a generated stand-in, and say so loudly (on stderr: red in Jupyter)."""
    course = _current
    if course is not None:
        course.synthetic.add(dataset)
    print(synthetic_warning([dataset]), file=sys.stderr)


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
    """The folder an environment variable names, or ``None`` when it is unset or empty."""
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser().resolve() if value else None


def course_root(drive_mounted: bool = False) -> Path:
    """Drive when mounted; the repository checkout when running from one; else the user cache."""
    if drive_mounted:
        return DRIVE_COURSE_DIR
    if (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "notebooks").is_dir():
        return REPO_ROOT
    return USER_CACHE_DIR


def default_data_dir() -> Path | None:
    return env_path(DATA_DIR_ENV)


def default_cache_dir() -> Path:
    """Unpacked datasets: ``data/`` in a checkout, else the user cache; never Drive."""
    return env_path(CACHE_DIR_ENV) or course_root() / "data"


def default_download_dir(drive_mounted: bool = False) -> Path:
    """Downloaded archives: on Drive when mounted, else beside the unpacked datasets."""
    if drive_mounted:
        return env_path(DOWNLOAD_DIR_ENV) or DRIVE_COURSE_DIR / "downloads"
    return env_path(DOWNLOAD_DIR_ENV) or default_cache_dir() / "_downloads"


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

    Prints one banner line (device, profile, data source) unless ``quiet``.
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
