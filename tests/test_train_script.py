"""tools/train.py: the script entry point (what torchrun starts) trains with fit into the checkpoint a notebook loads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from course_utils import session
from course_utils.checkpoints import load_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "train.py"


@pytest.fixture
def train_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(session, "_current", None)
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.delenv("COURSE_RETRAIN", raising=False)
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_trains_into_the_notebooks_checkpoint_and_then_loads_it(train_script, tmp_path, capsys) -> None:
    arguments = ["simple_cnn", "--checkpoint", "01_simple_cnn_cifar10", "--profile", "quick", "--epochs", "1",
                 "--batch-size", "64"]  # fmt: skip
    train_script.main(arguments)
    out = capsys.readouterr().out
    assert "epoch 1/1 |" in out and "best val accuracy" in out
    checkpoint = tmp_path / "checkpoints" / "quick" / "01_simple_cnn_cifar10.pt"
    metadata = load_checkpoint(checkpoint)["metadata"]
    assert metadata["finished"] and metadata["model_class"] == "SimpleCNN" and metadata["input_size"] == [3, 32, 32]
    assert len(metadata["classes"]) == 10 and metadata["mean"] == [0.4914, 0.4822, 0.4465]

    train_script.main(arguments)  # as the notebook's fit cell would: the finished run is loaded, not trained again
    assert "instead of training" in capsys.readouterr().out


def test_an_unknown_model_is_refused(train_script) -> None:
    with pytest.raises(SystemExit, match="unknown model 'alexnetx'"):
        train_script.build_model("alexnetx", 10)
    assert type(train_script.build_model("course_utils.models.cifar_resnet:cifar_resnet", 3)).__name__ == "CifarResNet"
