"""Execute every course notebook end to end, saving the executed notebook and an HTML copy.

    python tools/run_notebooks.py notebooks --out build

Writes ``build/notebooks/<name>.ipynb`` and ``build/html/<name>.html`` (titled like the notebook)
and prints one line per notebook: wall time and ``ok``, ``FAILED: <error>``, or the datasets it
had to replace with generated stand-ins and why. Exits 1 when any notebook fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter
from traitlets.config import Config

from course_utils.session import STANDIN_LOG_ENV


@dataclass
class Result:
    seconds: float
    error: str = ""
    stand_ins: list[dict] = field(default_factory=list)
    """``{"dataset", "reason"}`` for every dataset the notebook replaced with generated stand-in data."""

    @property
    def status(self) -> str:
        if self.error:
            return f"FAILED: {self.error}"
        if self.stand_ins:
            datasets = ", ".join(s["dataset"] for s in self.stand_ins)
            reasons = "".join(f"\n    {s['dataset']}: {s['reason'] or 'no reason given'}" for s in self.stand_ins)
            return f"ok on STAND-IN DATA ({datasets}), not real images:{reasons}"
        return "ok"


def notebook_title(notebook: nbformat.NotebookNode, path: Path) -> str:
    """``metadata.course.title``, else the first ``# heading``, else the file name."""
    title = notebook.metadata.get("course", {}).get("title")
    if title:
        return title
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return path.stem


def kernel_config(scratch: Path) -> Config:
    """Local sockets instead of TCP: the kernel is reachable only from this machine, and it does not
    warn on every start that its TCP traffic is unencrypted. (Windows has no IPC transport.)"""
    if sys.platform == "win32":
        return Config()
    # IPC sockets are files: an absolute path, as the kernel runs in the notebook's folder
    return Config({"KernelManager": {"transport": "ipc", "ip": str(scratch / "kernel")}})


def run_notebook(path: Path, out: Path, timeout: int) -> Result:
    """Execute one notebook in its own folder, with the stand-in log pointed at a fresh file."""
    notebook = nbformat.read(path, as_version=4)
    error = ""
    with tempfile.TemporaryDirectory() as scratch:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            config=kernel_config(Path(scratch)),
        )
        log = Path(scratch) / "stand-ins.jsonl"
        started = time.perf_counter()
        try:
            client.execute(env={**os.environ, STANDIN_LOG_ENV: str(log)})
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:  # keep going with the next notebook
            error = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        seconds = time.perf_counter() - started
        stand_ins = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    (out / "html").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / "notebooks" / path.name)
    html, _ = HTMLExporter().from_notebook_node(notebook, resources={"metadata": {"name": notebook_title(notebook, path)}})
    (out / "html" / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return Result(seconds, error, stand_ins)


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
    results = []
    for path in notebooks:
        result = run_notebook(path.resolve(), args.out.resolve(), args.timeout)
        results.append(result)
        print(f"{path.stem:<32} {result.seconds:7.1f} s  {result.status}", flush=True)
    failures = sum(bool(r.error) for r in results)
    on_stand_ins = sum(bool(r.stand_ins) and not r.error for r in results)
    passed = f"{len(results) - failures} passed" + (f" ({on_stand_ins} on stand-in data)" if on_stand_ins else "")
    print(f"{passed}, {failures} failed  (executed notebooks and HTML in {args.out}/)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
