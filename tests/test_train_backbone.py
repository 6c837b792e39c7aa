"""tools/train_backbone.py: the recipe that made the shipped backbone still runs, and a longer schedule never resumes it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from course_utils import session
from course_utils.checkpoints import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "train_backbone.py"


@pytest.fixture
def backbone_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(session, "_current", None)
    monkeypatch.setenv(session.CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.setenv(session.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(session.DATA_DIR_ENV, str(SHARED_DATA))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    spec = importlib.util.spec_from_file_location("train_backbone", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_schedule_has_its_own_checkpoint(backbone_script) -> None:
    default = backbone_script.checkpoint_name(backbone_script.EPOCHS)
    assert default == backbone_script.BACKBONE_NAME  # the shipped run's checkpoint keeps its name
    longer = backbone_script.checkpoint_name(160)
    assert longer != default and "160" in longer
    assert backbone_script.checkpoint_name(160, limit=200) not in (default, longer)


@pytest.mark.skipif(not (SHARED_DATA / "cifar10" / "train").is_dir(), reason="the shared CIFAR-10 copy is not here")
def test_a_small_run_trains_evaluates_and_leaves_the_shipped_weights_alone(
    backbone_script, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    shipped = (backbone_script.BACKBONE_DIR / "cifar_resnet20.pt").read_bytes()
    monkeypatch.setattr(sys, "argv", ["train_backbone.py", "--limit", "200", "--epochs", "1"])
    backbone_script.main()
    out = capsys.readouterr().out
    assert "epoch 1/1 |" in out and "test accuracy" in out and "on 10000 images" in out
    checkpoint = tmp_path / "checkpoints" / "full" / f"{backbone_script.checkpoint_name(1, 200)}.pt"
    assert load_checkpoint(checkpoint)["metadata"]["finished"]
    assert (backbone_script.BACKBONE_DIR / "cifar_resnet20.pt").read_bytes() == shipped  # --limit never exports
