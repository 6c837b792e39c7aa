"""The Colab bootstrap cell and badges are generated from pyproject.toml and stay in sync."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import nbformat
import pytest

from course_utils import colab

ROOT = Path(__file__).resolve().parents[1]


def load_sync_tool() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("sync_notebooks", ROOT / "tools" / "sync_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync = load_sync_tool()


def test_repository_url_comes_from_pyproject() -> None:
    assert colab.repository_url() in (ROOT / "pyproject.toml").read_text()
    assert colab.colab_url("01_cnn_basics.ipynb").endswith(f"{colab.github_path()}/blob/main/notebooks/01_cnn_basics.ipynb")


def test_every_notebook_and_the_readme_are_in_sync() -> None:
    assert sync.notebook_paths(), "no notebooks found"
    stale = sync.stale_files()
    assert not stale, f"run `make sync`: {sorted(p.name for p in stale)}"


def test_every_notebook_opens_with_the_bootstrap_cell() -> None:
    for path in sync.notebook_paths():
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "code" and first.source == colab.bootstrap_source(), path.name


def test_a_wrong_badge_or_bootstrap_is_detected(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    original = sync.notebook_paths()[0]
    copy = folder / original.name
    shutil.copy(original, copy)
    readme = tmp_path / "README.md"
    readme.write_text(sync.synced_readme(folder=folder))
    assert sync.stale_files(folder, readme) == {}

    text = copy.read_text().replace(colab.github_path(), "someone-else/fork")
    copy.write_text(text)
    stale = sync.stale_files(folder, readme)
    assert copy in stale
    copy.write_text(stale[copy])  # what `make sync` writes: the right badge, the introduction kept
    assert sync.stale_files(folder, readme) == {} and copy.read_text() == original.read_text()

    shutil.copy(original, copy)
    readme.write_text(readme.read_text().replace("blob/main", "blob/old-branch"))
    assert readme in sync.stale_files(folder, readme)


def test_bootstrap_does_nothing_off_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("bootstrap ran pip off Colab"))
    exec(colab.bootstrap_source(), {})


def test_bootstrap_on_colab_reinstalls_the_course_keeps_colab_torch_and_mounts_drive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mounts: list[str] = []
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    google_colab.drive = types.SimpleNamespace(mount=mounts.append)
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the constraints file goes to the temporary folder
    commands: list[list[str]] = []
    constraints: dict[str, str] = {}

    def fake_run(command: list[str], check: bool) -> None:
        assert check
        commands.append(command)
        if "-c" in command:
            constraint_file = Path(command[command.index("-c") + 1])
            assert constraint_file.parent == tmp_path  # not a fixed /tmp path: parallel runs would collide
            constraints["text"] = constraint_file.read_text()

    monkeypatch.setattr(subprocess, "run", fake_run)
    exec(colab.bootstrap_source(), {})

    package = f"cnn-course @ git+{colab.repository_url()}.git@main"
    assert all(command[:4] == [sys.executable, "-m", "pip", "install"] for command in commands)
    reinstall, install = commands
    # the course package itself is replaced on every run (same version number, new code), without its dependencies ...
    assert {"--force-reinstall", "--no-deps"} <= set(reinstall) and reinstall[-1] == package
    # ... then its dependencies are installed with Colab's torch and torchvision held where they are
    assert "--upgrade" not in install and "--force-reinstall" not in install and install[-1] == package
    pins = set(constraints["text"].splitlines())
    assert pins == {f"torch=={importlib.metadata.version('torch')}", f"torchvision=={importlib.metadata.version('torchvision')}"}
    assert mounts == ["/content/drive"]
