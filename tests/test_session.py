"""setup(): seeds, device, profile, data and checkpoint roots, banner."""

from __future__ import annotations

import json
import platform
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import course_utils
from course_utils import session
from course_utils.profiles import FULL, QUICK, get_profile


@pytest.fixture(autouse=True)
def clean_session(monkeypatch: pytest.MonkeyPatch):
    for name in (session.DATA_DIR_ENV, session.CACHE_DIR_ENV, session.DOWNLOAD_DIR_ENV, session.CHECKPOINT_DIR_ENV, session.RETRAIN_ENV, session.STANDIN_LOG_ENV, "COURSE_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    previous = session._current
    yield
    session._current = previous


def test_profile_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_profile() is FULL  # unset means the full course
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    assert get_profile() is QUICK
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError, match="COURSE_PROFILE"):
        get_profile()


def test_setup_seeds_everything_reproducibly() -> None:
    draws = []
    for _ in range(2):
        course_utils.setup(seed=123, quiet=True)
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
    course_utils.setup(seed=124, quiet=True)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) != draws[0]


def test_setup_reads_roots_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv(session.DATA_DIR_ENV, str(tmp_path / "shared"))
    monkeypatch.setenv(session.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(session.CHECKPOINT_DIR_ENV, str(tmp_path / "ckpt"))
    monkeypatch.setenv(session.RETRAIN_ENV, "1")
    course = course_utils.setup(seed=0, device="cpu")
    banner = capsys.readouterr().out.strip()
    assert all(line.startswith("course_utils |") for line in banner.splitlines())
    assert "device=cpu" in banner and "profile=quick" in banner and str(tmp_path / "shared") in banner
    assert "!!" not in banner  # quick on a CPU: nothing to warn about
    assert course.data_dir == tmp_path / "shared" and course.cache_dir == tmp_path / "cache"
    assert course.checkpoint_path("lenet") == tmp_path / "ckpt" / "quick" / "lenet.pt"
    assert course.retrain is True
    assert course_utils.current() is course


def test_a_relative_folder_is_read_from_the_checkout_not_the_kernels_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # a kernel runs in notebooks/, not where the command was typed
    monkeypatch.setenv(session.DATA_DIR_ENV, "../shared/data")
    assert session.env_path(session.DATA_DIR_ENV) == (session.REPO_ROOT.parent / "shared" / "data").resolve()
    monkeypatch.setenv(session.DATA_DIR_ENV, str(tmp_path / "elsewhere"))
    assert session.env_path(session.DATA_DIR_ENV) == tmp_path / "elsewhere"  # absolute paths stay as they are
    monkeypatch.setattr(session, "course_root", lambda drive_mounted=False: session.USER_CACHE_DIR)
    monkeypatch.setenv(session.DATA_DIR_ENV, "data")
    assert session.env_path(session.DATA_DIR_ENV) == (tmp_path / "data").resolve()  # an installed package: cwd


def test_defaults_live_in_the_checkout_off_colab() -> None:
    course = course_utils.setup(quiet=True)
    assert not course.on_colab and course.data_dir is None
    assert course.cache_dir == session.REPO_ROOT / "data"
    assert course.download_dir == session.REPO_ROOT / "data" / "_downloads"
    assert course.checkpoint_dir == session.REPO_ROOT / "checkpoints"
    assert course.retrain is False


def test_drive_is_used_when_mounted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "MyDrive").mkdir()
    monkeypatch.setattr(session, "DRIVE_MOUNT_POINT", tmp_path)
    monkeypatch.setattr(session, "DRIVE_COURSE_DIR", tmp_path / "MyDrive" / "cnn-course")
    course = course_utils.setup(quiet=True)
    assert course.drive_mounted
    # archives and checkpoints on Drive; unpacked images on the local disk (Drive is slow for many small files)
    assert course.download_dir == tmp_path / "MyDrive" / "cnn-course" / "downloads"
    assert course.checkpoint_dir == tmp_path / "MyDrive" / "cnn-course" / "checkpoints"
    assert course.cache_dir == session.default_cache_dir() and not course.cache_dir.is_relative_to(tmp_path)
    assert "archives in" in course.banner()


def test_synthetic_data_is_announced(capsys) -> None:
    course = course_utils.setup(quiet=True)
    assert course_utils.data_notice() == ""
    session.mark_synthetic("cats_dogs")
    printed = capsys.readouterr()
    assert "SYNTHETIC" in printed.err and "SYNTHETIC" not in printed.out  # said once, on stderr
    assert "cats_dogs" in course_utils.data_notice() and "SYNTHETIC" in course.banner()


def test_banner_shows_the_versions_and_the_device_by_name() -> None:
    environment = course_utils.setup(quiet=True).banner().splitlines()[0]
    assert f"Python {platform.python_version()}" in environment
    assert f"torch {torch.__version__}" in environment and f"torchvision {torchvision.__version__}" in environment
    cpu = session.device_description(torch.device("cpu"))
    assert cpu.startswith("cpu (") and "cores" in cpu
    if torch.cuda.is_available():
        assert torch.cuda.get_device_name(0) in session.device_description(torch.device("cuda"))


def test_full_profile_on_a_cpu_warns_with_an_estimate_and_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "full")
    banner = course_utils.setup(device="cpu", quiet=True).banner()
    (warning,) = [line for line in banner.splitlines() if "!!" in line]
    minutes = round(FULL.epochs * session.CPU_SECONDS_PER_EPOCH / 60)
    assert "full profile on a CPU" in warning and f"~{minutes} min" in warning
    assert 'cu.setup(profile="quick")' in warning and "COURSE_PROFILE=quick" in warning and "GPU" in warning
    assert "!!" not in course_utils.setup(device="cpu", profile="quick", quiet=True).banner()


def test_a_notebook_chooses_its_profile_in_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a Colab student without a GPU writes: setup(profile="quick") wins over the environment,
    and load_dataset follows it (the full profile would refuse the stand-in data below)."""
    monkeypatch.setenv("COURSE_PROFILE", "full")
    course = course_utils.setup(profile="quick", quiet=True)
    assert course.profile is QUICK and "profile=quick" in course.banner()
    data = course_utils.load_dataset("rocks", data_dir=tmp_path / "none", cache_dir=tmp_path / "cache", download=False)
    assert data.profile is QUICK and data.source == "synthetic"


def test_stand_in_data_is_logged_with_its_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    """tools/run_notebooks.py sets COURSE_STANDIN_LOG to report a notebook that ran on stand-in data."""
    log = tmp_path / "standin.jsonl"
    monkeypatch.setenv(session.STANDIN_LOG_ENV, str(log))
    course_utils.setup(profile="quick", quiet=True)
    course_utils.load_dataset("rocks", data_dir=tmp_path / "none", cache_dir=tmp_path / "cache", download=False)
    (entry,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert entry["dataset"] == "rocks"
    assert "COURSE_DATA_DIR" in entry["reason"] and "download=False" in entry["reason"]
    assert entry["reason"] in capsys.readouterr().err  # the student sees why, too


def test_device_choice() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert session.pick_device().type == expected
    assert session.pick_device("cpu") == torch.device("cpu")
