"""Smoke versions of make bench's benchmarks (tiny sizes, no timing asserted), so that they do not rot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import session
from course_utils.tensordata import TensorImages

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_data_path  # noqa: E402
import bench_features  # noqa: E402
import bench_loop  # noqa: E402
import bench_speedrun  # noqa: E402
import bench_suite  # noqa: E402
import run as bench_run  # noqa: E402


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", None)


def assert_measured(result) -> None:
    assert result.ratio is not None and result.ratio > 0, result.note
    assert "CHECK FAILED" not in result.note
    entry = result.as_json()
    assert set(entry) >= {"ratio", "target", "met"} and entry["met"] in (True, False)
    json.dumps(entry)


def test_b1_fit_and_the_bare_loop_train_the_same_weights() -> None:
    result = bench_loop.run(steps=4, batch_size=2, rounds=1)
    assert_measured(result)
    assert result.target == 0.97 and "same weights" in result.note and "taking turns step by step" in result.note


def test_b1_reports_no_ratio_when_the_two_sides_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    original = bench_loop.with_fit

    def other_training(network, batches, folder):
        loss = original(network, batches, folder)
        with torch.no_grad():
            next(network.parameters()).add_(1.0)
        return loss

    monkeypatch.setattr(bench_loop, "with_fit", other_training)
    result = bench_loop.run(steps=1, batch_size=2, rounds=1)
    assert result.ratio is None and result.met is None and result.note.startswith("CHECK FAILED")


def image_folder(root: Path, per_class: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for number in range(per_class):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / name / f"{number}.jpg")
    return root


def test_b2_both_paths_read_the_same_files_into_the_same_training(tmp_path: Path) -> None:
    result = bench_data_path.run(root=image_folder(tmp_path / "train"), rounds=1)
    assert_measured(result)
    assert "cold" in result.course and result.figures["images"] == 24
    assert 0 < result.figures["compute_ratio"] and "compute alone" in result.note


def test_b3_cached_features_equal_the_backbone_pass() -> None:
    generator = torch.Generator().manual_seed(0)
    images = TensorImages(torch.randint(0, 256, (24, 3, 32, 32), generator=generator, dtype=torch.uint8),
                          torch.arange(24) % 3, ["a", "b", "c"])  # fmt: skip
    result = bench_features.run(images=images, batch_size=8, head_epochs=2)
    assert_measured(result)
    assert result.target == 1.3 and "24 CIFAR-10 test images" in result.note


def test_b4_reads_notebook_times_and_the_recorded_suite_time(tmp_path: Path) -> None:
    executed = tmp_path / "notebooks"
    executed.mkdir()
    cells = [
        {"cell_type": "markdown", "metadata": {}},
        {"cell_type": "code", "metadata": {"execution": {"iopub.execute_input": "2026-01-01T10:00:00.000Z",
                                                         "shell.execute_reply": "2026-01-01T10:00:05.000Z"}}},
        {"cell_type": "code", "metadata": {"execution": {"iopub.execute_input": "2026-01-01T10:00:05.100Z",
                                                         "shell.execute_reply": "2026-01-01T10:00:42.500Z"}}},
    ]  # fmt: skip
    (executed / "01_basics.ipynb").write_text(json.dumps({"cells": cells}))
    record = tmp_path / "suite-time.json"
    assert bench_suite.run(executed, record).ratio is None  # nothing recorded yet: not measured, no figure
    record.write_text(json.dumps({"seconds": 480.0, "passed": True, "commit": "abc1234", "date": "2026-01-01"}))
    result = bench_suite.run(executed, record)
    assert result.figures["notebook_seconds"] == {"01_basics": 42.5}
    assert result.ratio == pytest.approx(0.8) and result.met is True and "01_basics 42.5 s" in result.note


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_b5_says_it_was_not_run_without_a_gpu() -> None:
    result = bench_speedrun.run()
    assert result.ratio is None and result.note == "not run: no GPU lent (this benchmark needs CUDA)"


def test_make_bench_writes_one_table_and_the_json_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert bench_run.main(["B4", "B5", "--out", str(tmp_path)]) == 0
    figures = json.loads((tmp_path / "bench.json").read_text())
    assert list(figures) == ["B4", "B5"]
    assert all({"ratio", "target", "met"} <= set(entry) for entry in figures.values())
    report = (tmp_path / "bench.md").read_text()
    assert report.startswith("command: python benchmarks/run.py B4 B5") and "cpu:" in report and "| B5 |" in report
    assert "load average" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_run.main(["B9"])
