"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node=2`` (gloo, CPU): plain ``fit`` calls.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_fit_script.py OUT_DIR

Three runs, as a notebook would make them: an uninterrupted 4-epoch run, a 2-epoch run (the
"interrupted" one), and the 2-epoch run continued to 4 epochs from its checkpoint in a fresh state
(other initial weights, scrambled random numbers). Each process writes what it saw to OUT_DIR/rank<R>.json.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_utils import distributed
from course_utils.training import fit

TRAIN_SIZE, VAL_SIZE = 90, 37  # 90 splits evenly over 2 processes; 37 does not (the evaluation share is exact)


class Blobs(Dataset):
    """Two Gaussian blobs in 2-D that remember which indices this process read."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.targets = torch.arange(size) % 2
        self.inputs = torch.randn(size, 2, generator=generator) + (self.targets[:, None] * 2 - 1) * 1.5
        self.seen: list[int] = []

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.inputs[index], self.targets[index]

    def __getitems__(self, indices: list[int]) -> list:
        """How a DataLoader fetches a batch (fit's one look at sample 0 for the input size is not counted)."""
        self.seen.extend(int(index) for index in indices)
        return [self[index] for index in indices]


def model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


def run(weights_seed: int, epochs: int, checkpoint: Path) -> dict:
    train_data, val_data = Blobs(TRAIN_SIZE, seed=0), Blobs(VAL_SIZE, seed=1)
    train = DataLoader(train_data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(3))
    val = DataLoader(val_data, batch_size=16)
    network = model(weights_seed)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    history = fit(network, train, val, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
                  checkpoint=checkpoint, device="cpu", progress="lines")  # fmt: skip
    return {"history": [dict(record, seconds=0.0) for record in history], "train_seen": train_data.seen,
            "val_seen": val_data.seen}  # fmt: skip


def main() -> None:
    out = Path(sys.argv[1])
    results = {"full": run(0, 4, out / "full.pt"), "part": run(0, 2, out / "part.pt")}
    torch.manual_seed(1234 + distributed.rank()), random.seed(99), np.random.seed(99)  # a fresh session
    results["resumed"] = run(77, 4, out / "part.pt")
    results.update(rank=distributed.rank(), world_size=distributed.world_size())
    (out / f"rank{distributed.rank()}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()
