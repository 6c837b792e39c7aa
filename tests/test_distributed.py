"""fit under torchrun: two CPU processes (gloo) share each epoch's samples, agree on global metrics,
only process 0 prints and writes, and a resumed distributed run continues exactly from its checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import distributed_fit_script as script
from course_utils import distributed, session
from course_utils.checkpoints import load_checkpoint
from course_utils.training import validate

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(script.__file__)


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", None)


def test_everything_is_a_no_op_in_one_process() -> None:
    assert not distributed.launched() and not distributed.active()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)
    loader = DataLoader(list(range(5)), batch_size=2)
    model = nn.Linear(2, 2)
    assert distributed.shard(loader, train=True) is loader and distributed.wrap(model, torch.device("cpu")) is model
    assert distributed.start(torch.device("cpu")) == torch.device("cpu")
    values = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce(values).tolist() == [1.0, 2.0]


def test_evaluation_shares_cover_the_dataset_exactly_once() -> None:
    shares = [list(distributed.EvalShard(37, rank, 3)) for rank in range(3)]
    assert sorted(index for share in shares for index in share) == list(range(37))
    assert [len(share) for share in shares] == [13, 12, 12]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[dict]]:
    """One torchrun launch of tests/distributed_fit_script.py with 2 processes on the CPU (gloo)."""
    out = tmp_path_factory.mktemp("ddp")
    environment = {key: value for key, value in os.environ.items() if key not in ("COURSE_RETRAIN", "WORLD_SIZE", "RANK")}
    environment.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), str(SCRIPT.parent)]))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT), str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, cwd=ROOT)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output[-4000:]
    return out, finished.stdout, [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def per_epoch(seen: list[int], epochs: int) -> list[list[int]]:
    size = len(seen) // epochs
    assert size * epochs == len(seen)
    return [seen[epoch * size : (epoch + 1) * size] for epoch in range(epochs)]


def test_each_process_gets_its_share_and_an_epoch_sees_as_many_samples_as_one_process(two_processes, tmp_path) -> None:
    _, _, ranks = two_processes
    assert [result["rank"] for result in ranks] == [0, 1] and {result["world_size"] for result in ranks} == {2}
    single = script.run(0, 4, tmp_path / "single.pt")  # the same cell in one process

    single_epochs = per_epoch(single["train_seen"], 4)
    shares = [per_epoch(result["full"]["train_seen"], 4) for result in ranks]
    for epoch in range(4):
        first, second = shares[0][epoch], shares[1][epoch]
        assert len(first) == len(second) == script.TRAIN_SIZE // 2
        assert sorted(first + second) == sorted(single_epochs[epoch]) == list(range(script.TRAIN_SIZE))
    assert shares[0][0] != shares[0][1]  # reshuffled every epoch

    val_shares = [per_epoch(result["full"]["val_seen"], 4) for result in ranks]
    for epoch in range(4):
        assert sorted(val_shares[0][epoch] + val_shares[1][epoch]) == list(range(script.VAL_SIZE))


def test_the_epoch_record_is_global_and_the_loss_falls(two_processes) -> None:
    out, _, ranks = two_processes
    history = ranks[0]["full"]["history"]
    assert history == ranks[1]["full"]["history"]  # both processes report the figures of all samples
    assert history[-1]["train_loss"] < history[0]["train_loss"]

    network = script.model(0)
    network.load_state_dict(load_checkpoint(out / "full.pt")["model"])
    val = DataLoader(script.Blobs(script.VAL_SIZE, seed=1), batch_size=16)
    measured = validate(network, val, nn.CrossEntropyLoss())
    assert measured["acc"] == history[-1]["val_acc"]
    assert measured["loss"] == pytest.approx(history[-1]["val_loss"], rel=1e-6)


def test_only_process_zero_prints_and_writes(two_processes) -> None:
    out, stdout, _ = two_processes
    assert stdout.count("epoch 1/4 |") == 1 and stdout.count("epoch 2/2 |") == 1
    assert stdout.count("Resuming from") == 1
    assert sorted(path.name for path in out.iterdir()) == ["full.pt", "part.pt", "rank0.json", "rank1.json"]
    assert load_checkpoint(out / "full.pt")["metadata"]["finished"]


def test_a_resumed_distributed_run_continues_from_its_checkpoint(two_processes) -> None:
    out, stdout, ranks = two_processes
    assert "Resuming from" in stdout and "after epoch 2/4" in stdout
    for result in ranks:
        assert len(result["resumed"]["train_seen"]) == 2 * script.TRAIN_SIZE // 2  # epochs 3 and 4 only
        assert result["resumed"]["history"] == result["full"]["history"]  # exactly where it stopped
    full, resumed = load_checkpoint(out / "full.pt"), load_checkpoint(out / "part.pt")
    assert resumed["epoch"] == 4
    for name, weights in full["model"].items():
        assert torch.equal(resumed["model"][name], weights), name
