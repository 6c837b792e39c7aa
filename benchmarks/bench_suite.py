"""B4 suite time: every notebook's wall time in the quick profile, and ``make test`` on a fresh clone.

Running every notebook again would double ``make bench``, so the notebook times are read from the
executed copies ``make course`` leaves in ``build/notebooks/`` (nbclient stamps every cell with when
it started and finished: a notebook's time is its first cell's start to its last cell's end, kernel
start-up excluded). ``make test`` on a fresh clone is measured only when asked (``--run-suite``):
it clones the repository's last commit into a temporary folder and times ``make test`` there, the
install of a new ``.venv`` included, then records the figure in ``build/suite-time.json``, which
later runs report (with its date). Ratio: ``make test`` seconds / 600 (target <= 1: ten minutes).

    python benchmarks/bench_suite.py                 # report recorded figures
    python benchmarks/bench_suite.py --run-suite     # clone, make test, record (tens of minutes)
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from common import ROOT, Result, seconds

TARGET_SECONDS = 600.0
SUITE_RECORD = ROOT / "build" / "suite-time.json"


def _stamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def notebook_seconds(folder: Path) -> dict[str, float]:
    """Each executed notebook's wall time, from the per-cell timestamps nbclient records."""
    times = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        stamps = [cell.get("metadata", {}).get("execution", {}) for cell in cells if cell.get("cell_type") == "code"]
        starts = [_stamp(stamp["iopub.execute_input"]) for stamp in stamps if "iopub.execute_input" in stamp]
        ends = [_stamp(stamp["shell.execute_reply"]) for stamp in stamps if "shell.execute_reply" in stamp]
        if starts and ends:
            times[path.stem] = (max(ends) - min(starts)).total_seconds()
    return times


def run_suite(repository: Path = ROOT) -> dict:
    """Clone the last commit of ``repository``, time ``make test`` in the clone, and record the figure."""
    with tempfile.TemporaryDirectory(prefix="fresh-clone-") as scratch:
        clone = Path(scratch) / "repository"
        subprocess.run(["git", "clone", "--quiet", str(repository), str(clone)], check=True)
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "COURSE_CHECKPOINT"))}
        started = time.perf_counter()
        finished = subprocess.run(["make", "test"], cwd=clone, env=environment, capture_output=True, text=True)
        took = time.perf_counter() - started
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout
    record = {"seconds": took, "passed": finished.returncode == 0, "commit": commit.strip(),
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "tail": finished.stdout[-2000:] + finished.stderr[-2000:]}  # fmt: skip
    SUITE_RECORD.parent.mkdir(parents=True, exist_ok=True)
    SUITE_RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def run(executed: Path = ROOT / "build" / "notebooks", record: Path = SUITE_RECORD, measure_suite: bool = False) -> Result:
    result = Result("B4", "suite time: make test on a fresh clone (install included)", 1.0, "lower",
                    command="python benchmarks/bench_suite.py --run-suite")  # fmt: skip
    notes = []
    notebooks = notebook_seconds(executed) if executed.is_dir() else {}
    if notebooks:
        made = datetime.datetime.fromtimestamp(max(p.stat().st_mtime for p in executed.glob("*.ipynb"))).isoformat(timespec="minutes")
        listed = ", ".join(f"{name} {seconds(value)}" for name, value in notebooks.items())
        notes.append(f"notebooks (quick profile, read from {executed.relative_to(ROOT) if executed.is_relative_to(ROOT) else executed} "
                     f"of {made}, not re-run): {listed}; total {seconds(sum(notebooks.values()))}")  # fmt: skip
    else:
        notes.append(f"no executed notebooks in {executed}: run `make course` first")
    suite = run_suite() if measure_suite else (json.loads(record.read_text()) if record.is_file() else None)
    if suite is None:
        notes.append("make test on a fresh clone: not measured in this run (recorded by --run-suite, tens of minutes)")
    else:
        result.ratio = suite["seconds"] / TARGET_SECONDS
        result.course = f"make test {seconds(suite['seconds'])}" + ("" if suite["passed"] else " (FAILED)")
        notes.append(f"make test on a fresh clone of {suite['commit']} ({'measured now' if measure_suite else 'recorded ' + suite['date']})")
    result.reference = f"{TARGET_SECONDS:.0f} s budget"
    result.note = "; ".join(notes)
    result.figures = {"notebook_seconds": notebooks, "make_test_seconds": suite["seconds"] if suite else None}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-suite", action="store_true", help="clone and time make test now (slow)")
    args = parser.parse_args()
    result = run(measure_suite=args.run_suite)
    print(f"B4 ratio {result.ratio}, target {result.target_text}: {result.course}; {result.note}")


if __name__ == "__main__":
    main()
