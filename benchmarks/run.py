"""``make bench``: every benchmark side by side, one table, and the same figures in ``build/bench.json``.

    make bench                                  # B1-B5 at their documented sizes
    make bench BENCH_ARGS="B1 B3 --images 2000" # some of them, smaller
    python benchmarks/run.py --help

B1 loop overhead (fit vs a bare loop), B2 data path (decoded tensors vs ImageFolder + PIL), B3
feature extraction (extract once + 10 head epochs vs one backbone pass), B4 suite time (notebook
times recorded by ``make course``; ``make test`` on a fresh clone with ``--run-suite``), B5 a GPU
speed run (only with a GPU). ``build/bench.json`` is ``{"B1": {"ratio": ..., "target": ..., "met": ...,
...}, ...}``; ``build/bench.md`` is the table as printed, with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import bench_data_path
import bench_features
import bench_loop
import bench_speedrun
import bench_suite
from common import ROOT, Result, load_average, machine_facts, table, to_json

BENCHMARKS = ("B1", "B2", "B3", "B4", "B5")


def run(selected: list[str], args: argparse.Namespace) -> list[Result]:
    runners = {
        "B1": lambda: bench_loop.run(args.steps, args.batch_size, args.rounds),
        "B2": lambda: bench_data_path.run(rounds=args.rounds_b2),
        "B3": lambda: bench_features.run(limit=args.images),
        "B4": lambda: bench_suite.run(measure_suite=args.run_suite),
        "B5": bench_speedrun.run,
    }
    results = []
    for key in selected:
        print(f"== {key}", flush=True)
        result = runners[key]()
        ratio = "-" if result.ratio is None else f"{result.ratio:.3f}"
        print(f"   ratio {ratio} (target {result.target_text}) {result.course} | {result.reference}", flush=True)
        results.append(result)
    return results




def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", nargs="*", metavar="B1..B5", help="which to run (default: all)")
    parser.add_argument("--steps", type=int, default=200, help="B1: optimisation steps per run")
    parser.add_argument("--batch-size", type=int, default=32, help="B1: batch size")
    parser.add_argument("--rounds", type=int, default=2, help="B1: rounds (each side begins every other round)")
    parser.add_argument("--rounds-b2", type=int, default=1, help="B2: lecture/course epoch pairs")
    parser.add_argument("--images", type=int, default=None, help="B3: test images to use (default all 10,000)")
    parser.add_argument("--run-suite", action="store_true", help="B4: clone and time make test now (slow)")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="where bench.json and bench.md go")
    parser.add_argument("--command", default=None, help="how this run was started, for the table (make bench says)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.benchmarks) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)}")
    selected = [key for key in BENCHMARKS if key in (args.benchmarks or BENCHMARKS)]

    facts = machine_facts()
    results = run(selected, args)
    facts["load average (1, 5, 15 min) at end"] = load_average()
    command = args.command or shlex.join(["python", "benchmarks/run.py", *argv])
    report = table(results, facts, command)
    print("\n" + report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(to_json(results), indent=2) + "\n", encoding="utf-8")
    (args.out / "bench.md").write_text(report + "\n", encoding="utf-8")
    print(f"\nwrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
