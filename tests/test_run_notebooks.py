"""tools/run_notebooks.py (`make course`): one honest line per notebook, executed copies and titled HTML."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def write_notebook(path: Path, heading: str, code: str, title: str | None = None) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {heading}\n\nAn introduction."), nbformat.v4.new_code_cell(code)]
    if title:
        notebook.metadata["course"] = {"title": title}
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def course_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """The runner on three small notebooks: one fine, one on stand-in data, one failing (three kernels, once)."""
    folder = tmp_path_factory.mktemp("course")
    notebooks = folder / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_plain.ipynb", "Heading", "print(1 + 1)", title="01 · Plain — 기초")
    standin = "import course_utils as cu\ncu.setup(quiet=True)\ncu.load_dataset('rocks', download=False)"
    write_notebook(notebooks / "02_standin.ipynb", "02 · Stand-in", standin)
    write_notebook(notebooks / "03_broken.ipynb", "03 · Broken", "raise ValueError('boom')")
    env = {key: value for key, value in os.environ.items() if not key.startswith("COURSE_")}
    env.update(COURSE_PROFILE="quick", COURSE_CACHE_DIR=str(folder / "cache"), COURSE_CHECKPOINT_DIR=str(folder / "ckpt"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_notebooks.py"), str(notebooks), "--out", str(folder / "build")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    return done, folder / "build"


def report_line(done: subprocess.CompletedProcess, stem: str) -> str:
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(stem)]
    return line


def test_each_notebook_gets_one_line_and_a_failure_fails_the_run(course_run) -> None:
    done, build = course_run
    assert done.returncode == 1
    assert report_line(done, "01_plain").endswith(" ok")
    assert "FAILED" in report_line(done, "03_broken") and "boom" in report_line(done, "03_broken")
    assert done.stdout.splitlines()[-1].startswith("2 passed (1 on stand-in data), 1 failed")
    assert {p.name for p in (build / "notebooks").iterdir()} == {"01_plain.ipynb", "02_standin.ipynb", "03_broken.ipynb"}


def test_stand_in_data_is_reported_with_the_reason(course_run) -> None:
    done, _ = course_run
    line = report_line(done, "02_standin")
    assert "STAND-IN DATA (rocks)" in line and not line.endswith(" ok")
    lines = done.stdout.splitlines()
    reason = lines[lines.index(line) + 1]
    assert reason.startswith("    rocks: ") and "download=False" in reason  # why the real images could not be had


def test_html_copies_carry_the_notebook_title(course_run) -> None:
    _, build = course_run
    assert "<title>01 · Plain — 기초</title>" in (build / "html" / "01_plain.html").read_text(encoding="utf-8")
    assert "<title>02 · Stand-in</title>" in (build / "html" / "02_standin.html").read_text(encoding="utf-8")


def test_no_kernel_transport_warning(course_run) -> None:
    done, _ = course_run
    assert "without encryption" not in done.stdout + done.stderr
