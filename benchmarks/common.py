"""What every benchmark shares: its result row, the checks that both sides computed the same thing, machine facts.

A benchmark times the course's way and a reference way of doing the same work in one run, checks
that both did the same work (same samples, same model, finite loss), and reports the ratio of the
two times: ratios, unlike absolute times, survive a noisy machine.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable from a checkout without installing


class CheckFailed(AssertionError):
    """The two sides of a benchmark did not compute the same thing: no ratio is reported."""


def check(condition: bool, problem: str) -> None:
    if not condition:
        raise CheckFailed(problem)


def check_finite(value: float, what: str) -> None:
    check(isinstance(value, float) and math.isfinite(value), f"{what} is not a finite number ({value!r})")


@dataclass
class Result:
    """One row of the table and one entry of ``build/bench.json``.

    ``ratio`` is course time / reference time (``better="lower"``) or reference / course, a throughput
    ratio (``better="higher"``); ``met`` compares it with ``target``. ``None`` ratio: not measured.
    """

    key: str
    title: str
    target: float | None
    better: Literal["lower", "higher"]
    ratio: float | None = None
    course: str = ""
    reference: str = ""
    note: str = ""
    command: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.ratio is None or self.target is None:
            return None
        return self.ratio <= self.target if self.better == "lower" else self.ratio >= self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return "-"
        return f"{'<=' if self.better == 'lower' else '>='} {self.target:g}"

    def as_json(self) -> dict[str, Any]:
        entry = {"ratio": None if self.ratio is None else round(self.ratio, 4), "target": self.target, "met": self.met}
        entry.update(better=self.better, title=self.title, course=self.course, reference=self.reference,
                     note=self.note, command=self.command, **self.figures)  # fmt: skip
        return entry


def guarded(result: Result, measure: Callable[[Result], None]) -> Result:
    """Run ``measure(result)``; a failed check leaves the ratio out and says why in the note."""
    try:
        measure(result)
    except CheckFailed as problem:
        result.ratio = None
        result.note = f"CHECK FAILED, no ratio: {problem}"
    return result


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``work()`` took (wall clock) and what it returned."""
    started = time.perf_counter()
    value = work()
    return time.perf_counter() - started, value


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def data_dir() -> Path | None:
    """``$COURSE_DATA_DIR``, else ``../shared/data`` beside the checkout (what the Makefile points it at)."""
    folder = os.environ.get("COURSE_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    return Path(folder) if Path(folder).is_dir() else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*arguments: str) -> str:
    try:
        return subprocess.run(["git", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def machine_facts() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, threads, load, memory, GPU, versions, commit."""
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        memory = "unknown"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    dirty = " (with uncommitted changes)" if _git("status", "--porcelain", "--untracked-files=no") else ""
    cores, load = os.cpu_count() or 1, os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    busy = " -- BUSY: more runnable processes than cores, times are noisy" if load > cores else ""
    threads = f"torch uses {torch.get_num_threads()} threads (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "commit": (_git("rev-parse", "--short", "HEAD") or "unknown") + dirty,
        "cpu": f"{_cpu_model()}, {cores} logical cores, {threads}",
        "load average (1, 5, 15 min) at start": load_average() + busy,
        "memory": memory,
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": f"{torch.__version__} (torchvision {_torchvision_version()})",
    }


def _torchvision_version() -> str:
    import torchvision

    return torchvision.__version__


def to_json(results: list[Result]) -> dict[str, dict[str, Any]]:
    return {result.key: result.as_json() for result in results}


def table(results: list[Result], facts: dict[str, str], command: str) -> str:
    """The report: the command, the machine, one row per benchmark, and how to reproduce each figure."""
    lines = [f"command: {command}"]
    lines += [f"{name}: {value}" for name, value in facts.items()]
    lines += ["", "| | benchmark | course | reference | ratio | target | met |", "|---|---|---|---|---|---|---|"]
    for result in results:
        ratio = "-" if result.ratio is None else f"{result.ratio:.3f}"
        met = {True: "yes", False: "NO", None: "-"}[result.met]
        course = result.course or (result.note if result.note.startswith(("not run", "CHECK FAILED")) else "-")
        lines.append(
            f"| {result.key} | {result.title} | {course} | {result.reference or '-'} | {ratio} "
            f"| {result.target_text} | {met} |"
        )
    lines.append("")
    for result in results:
        lines.append(f"{result.key}: {result.note}" if result.note else f"{result.key}:")
        if result.command:
            lines.append(f"    reproduce: {result.command}")
    return "\n".join(lines)
