"""Regenerate every notebook's Colab bootstrap cell and badge, its model cells, and the README course map.

Everything is derived from ``pyproject.toml`` (the repository address), each notebook's
``metadata.course`` (title, topic, dataset, result) and the library's source code. ``--check`` only
reports what is out of date.

Model cells: a code cell whose metadata names library objects shows their source, so the student
reads the network in the lesson while ``course_utils`` stays its one definition::

    "metadata": {"course": {"source": ["course_utils.models.simple_cnn:conv_block",
                                       "course_utils.models.simple_cnn:SimpleCNN"]}}

Each entry is ``module:name`` for a function, class or constant defined at the top of that module
(name the defining module, not one that re-exports it). The cell becomes a header comment naming
the source files, the imports those definitions use (relative imports made absolute), then each
definition's source in the listed order, so the cell runs on its own. A definition that uses
another top-level name of its module (``conv_block``, a ``CONFIGS`` table) needs it listed too.

    python tools/sync_notebooks.py          # rewrite
    python tools/sync_notebooks.py --check  # exit 1 when anything differs
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

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
    if not info or not all(key in info for key in ("title", "topic", "dataset", "result")):
        raise ValueError(f"{path.name}: metadata.course needs title, topic, dataset and result (the measured full-profile result)")
    return info


class _Import(NamedTuple):
    """One imported name: ``import module [as alias]`` (``name`` None) or ``from module import name [as alias]``."""

    module: str
    name: str | None
    alias: str | None

    @property
    def bound(self) -> str:
        """The name the import defines in the namespace."""
        return self.alias or self.name or self.module.split(".")[0]


class _ModuleSource(NamedTuple):
    imports: list[_Import]
    """Top-level imports, relative ones made absolute."""
    definitions: dict[str, str]
    """Source of each top-level function, class (with decorators) or assignment (with its docstring)."""


def _module_source(module: ModuleType) -> _ModuleSource:
    text = inspect.getsource(module)
    lines = text.splitlines()
    body = ast.parse(text).body
    imports: list[_Import] = []
    definitions: dict[str, str] = {}
    package = module.__name__ if hasattr(module, "__path__") else module.__package__
    for index, node in enumerate(body):
        if isinstance(node, ast.Import):
            imports += [_Import(alias.name, None, alias.asname) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            imports += [_Import(source, alias.name, alias.asname) for alias in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            definitions[node.name] = "\n".join(lines[start - 1 : node.end_lineno])
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            following = body[index + 1] if index + 1 < len(body) else None
            docstring = isinstance(getattr(following, "value", None), ast.Constant) and isinstance(following.value.value, str)
            end = following.end_lineno if isinstance(following, ast.Expr) and docstring else node.end_lineno
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for name in (n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)):
                definitions[name] = "\n".join(lines[node.lineno - 1 : end])
    return _ModuleSource(imports, definitions)


def _resolve(reference: str) -> tuple[ModuleType, str, str]:
    """``"package.module:name"`` -> (module, name, the source that defines the name)."""
    module_name, _, name = reference.partition(":")
    if not module_name or not name.isidentifier():
        raise ValueError(f"{reference!r}: write a model-cell source as 'package.module:name'")
    module = importlib.import_module(module_name)
    parsed = _module_source(module)
    if name not in parsed.definitions:
        imported = [item.module for item in parsed.imports if item.bound == name]
        hint = f" (it imports it from {imported[0]}: name that module)" if imported else ""
        raise ValueError(f"{reference!r}: {module_name} does not define {name!r}{hint}")
    return module, name, parsed.definitions[name]


def _source_file(module: ModuleType) -> str:
    """``course_utils.models.simple_cnn`` -> ``course_utils/models/simple_cnn.py``."""
    parts = module.__name__.split(".")
    return "/".join(parts + ["__init__.py"]) if hasattr(module, "__path__") else "/".join(parts) + ".py"


def _import_block(imports: list[_Import], first_party: set[str]) -> str:
    """Import statements in isort's sections (standard library, third party, ``first_party`` packages),
    ``from`` imports of one module merged into one line."""
    sections: list[dict[str, list[str]]] = [{}, {}, {}]  # statement -> names imported from it
    for item in imports:
        top = item.module.split(".")[0]
        section = sections[0 if top in sys.stdlib_module_names else 2 if top in first_party else 1]
        alias = f" as {item.alias}" if item.alias else ""
        if item.name is None:
            section.setdefault(f"import {item.module}{alias}", [])
        else:
            names = section.setdefault(f"from {item.module} import", [])
            if item.name + alias not in names:
                names.append(item.name + alias)
    lines = [[f"{start} {', '.join(names)}".rstrip() for start, names in section.items()] for section in sections]
    return "\n\n".join("\n".join(section) for section in lines if section)


def model_cell_source(references: Sequence[str]) -> str:
    """The text of a model cell showing ``references`` (``"module:name"``), runnable on its own."""
    if isinstance(references, str) or not references:
        raise ValueError("metadata.course.source must be a non-empty list of 'package.module:name'")
    shown = [_resolve(reference) for reference in references]
    shown_names = {name for _, name, _ in shown}
    used_by_module: dict[ModuleType, set[str]] = {}
    for module, name, source in shown:
        used = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
        missing = sorted((used & set(_module_source(module).definitions)) - shown_names)
        if missing:
            listed = ", ".join(f"'{module.__name__}:{other}'" for other in missing)
            raise ValueError(f"{module.__name__}:{name} uses {', '.join(missing)}: list {listed} in the cell too")
        used_by_module.setdefault(module, set()).update(used - shown_names)
    needed = [
        item for module, used in used_by_module.items() for item in _module_source(module).imports if item.bound in used
    ]
    files = " and ".join(_source_file(module) for module in used_by_module)
    header = f"# Generated from {files} by `make sync`: edit it there, not here."
    imports = _import_block(needed, {module.__name__.split(".")[0] for module in used_by_module})
    sources = list(dict.fromkeys(source for _, _, source in shown))  # ``A, B = ...`` shown once
    return "\n\n\n".join([f"{header}\n{imports}" if imports else header, *sources])


def _sync_model_cells(notebook: nbformat.NotebookNode, path: Path) -> None:
    for cell in notebook.cells:
        references = cell.metadata.get("course", {}).get("source")
        if references is None:
            continue
        if cell.cell_type != "code":
            raise ValueError(f"{path.name}: cell {cell.get('id')} has metadata.course.source but is not code")
        try:
            cell.source = model_cell_source(references)
        except (ValueError, ImportError) as error:
            raise ValueError(f"{path.name}: cell {cell.get('id')}: {error}") from error


def synced_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook with its bootstrap cell (first), title cell badge (second) and model cells regenerated."""
    notebook = nbformat.read(path, as_version=4)
    _sync_model_cells(notebook, path)
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
    rows = ["| # | Notebook | Topic | Dataset | Full-profile result (measured) | Colab |", "|---|---|---|---|---|---|"]
    for path in notebook_paths(folder):
        info = course_info(nbformat.read(path, as_version=4), path)
        number = path.name[:2]
        link = f"[{info['title']}](notebooks/{path.name})"
        rows.append(f"| {number} | {link} | {info['topic']} | {info['dataset']} | {info['result']} | {colab_badge(path.name)} |")
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
