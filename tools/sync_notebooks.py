"""Regenerate every notebook's Colab bootstrap cell and badge, and the README course map.

Everything is derived from ``pyproject.toml`` (the repository address) and each notebook's
``metadata.course`` (title, topic, dataset). ``--check`` only reports what is out of date.

    python tools/sync_notebooks.py          # rewrite
    python tools/sync_notebooks.py --check  # exit 1 when anything differs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from course_utils.colab import BOOTSTRAP_TAG, bootstrap_source, colab_badge

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
MAP_START, MAP_END = "<!-- course-map:start -->", "<!-- course-map:end -->"


def notebook_paths(folder: Path = NOTEBOOKS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def course_info(notebook: nbformat.NotebookNode, path: Path) -> dict[str, str]:
    info = notebook.metadata.get("course")
    if not info or not all(key in info for key in ("title", "topic", "dataset")):
        raise ValueError(f"{path.name}: metadata.course needs title, topic and dataset")
    return info


def synced_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook with its bootstrap cell (first) and title cell badge (second) regenerated."""
    notebook = nbformat.read(path, as_version=4)
    info = course_info(notebook, path)
    bootstrap = nbformat.v4.new_code_cell(bootstrap_source())
    bootstrap.metadata["tags"] = [BOOTSTRAP_TAG]
    cells = notebook.cells
    if cells and BOOTSTRAP_TAG in cells[0].metadata.get("tags", []):
        bootstrap.id = cells[0].get("id", bootstrap.id)
        cells[0] = bootstrap
    else:
        cells.insert(0, bootstrap)
    title = f"# {info['title']}\n\n{colab_badge(path.name)}"
    if len(cells) > 1 and cells[1].cell_type == "markdown" and cells[1].source.startswith("# "):
        # keep the lecture's introduction: the paragraphs after the heading and the badge line
        paragraphs = cells[1].source.split("\n\n")[1:]
        if paragraphs and "colab-badge" in paragraphs[0]:
            paragraphs = paragraphs[1:]
        cells[1].source = "\n\n".join([title, *paragraphs])
    else:
        cells.insert(1, nbformat.v4.new_markdown_cell(title))
    return notebook


def course_map(folder: Path = NOTEBOOKS) -> str:
    rows = ["| # | Notebook | Topic | Dataset | Colab |", "|---|---|---|---|---|"]
    for path in notebook_paths(folder):
        info = course_info(nbformat.read(path, as_version=4), path)
        number = path.name[:2]
        link = f"[{info['title']}](notebooks/{path.name})"
        rows.append(f"| {number} | {link} | {info['topic']} | {info['dataset']} | {colab_badge(path.name)} |")
    return "\n".join(rows)


def synced_readme(readme: Path = README, folder: Path = NOTEBOOKS) -> str:
    text = readme.read_text(encoding="utf-8")
    before, start, rest = text.partition(MAP_START)
    _, end, after = rest.partition(MAP_END)
    if not start or not end:
        raise ValueError(f"README.md needs the markers {MAP_START} and {MAP_END}")
    return f"{before}{MAP_START}\n{course_map(folder)}\n{MAP_END}{after}"


def stale_files(folder: Path = NOTEBOOKS, readme: Path = README) -> dict[Path, str]:
    """Files whose generated parts differ from what pyproject.toml and the metadata say, with new text."""
    stale: dict[Path, str] = {}
    for path in notebook_paths(folder):
        text = nbformat.writes(synced_notebook(path)) + "\n"
        if text != path.read_text(encoding="utf-8"):
            stale[path] = text
    text = synced_readme(readme, folder)
    if text != readme.read_text(encoding="utf-8"):
        stale[readme] = text
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report stale files, change nothing")
    args = parser.parse_args()
    stale = stale_files()
    for path, text in stale.items():
        if args.check:
            print(f"out of date: {path.relative_to(ROOT)} (run `make sync`)")
        else:
            path.write_text(text, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
