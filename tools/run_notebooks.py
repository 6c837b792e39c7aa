"""Execute every course notebook end to end, saving the executed notebook and an HTML copy.

    python tools/run_notebooks.py notebooks --out build

Writes ``build/notebooks/<name>.ipynb`` and ``build/html/<name>.html`` and prints one line per
notebook (status and wall time). Exits 1 when any notebook fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter


def run_notebook(path: Path, out: Path, timeout: int) -> tuple[bool, float, str]:
    """Execute one notebook in its own folder; return (ok, seconds, first error line)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    error = ""
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:  # keep going with the next notebook
        error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    seconds = time.perf_counter() - started
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    (out / "html").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / "notebooks" / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    (out / "html" / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return not error, seconds, error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder of numbered notebooks")
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    args = parser.parse_args()
    notebooks = sorted(args.folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print(f"no notebooks in {args.folder}", file=sys.stderr)
        return 1
    failures = 0
    for path in notebooks:
        ok, seconds, error = run_notebook(path.resolve(), args.out.resolve(), args.timeout)
        failures += not ok
        status = "ok" if ok else f"FAILED: {error}"
        print(f"{path.stem:<32} {seconds:7.1f} s  {status}", flush=True)
    print(f"{len(notebooks) - failures} passed, {failures} failed  (executed notebooks and HTML in {args.out}/)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
