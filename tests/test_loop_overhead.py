"""The training loop's hot path: no host synchronisation per batch, progress postfixes at a bounded rate."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import progress as progress_module
from course_utils.progress import Progress
from course_utils.training import train_one_epoch, validate

READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")
"""Tensor methods that copy a value to the host: on a GPU each one waits for every queued kernel."""


@contextlib.contextmanager
def counted_host_reads() -> Iterator[Counter]:
    counts: Counter = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def counting(name):
        def method(self, *args, **kwargs):
            counts[name] += 1
            return originals[name](self, *args, **kwargs)

        return method

    try:
        for name in READS:
            setattr(torch.Tensor, name, counting(name))
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def data(batches: int, batch_size: int = 4, device: str = "cpu") -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(batch_size, 8, generator=generator).to(device), torch.randint(0, 10, (batch_size,), generator=generator).to(device))
        for _ in range(batches)
    ]


def host_reads(batches: int, mode: str) -> int:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 10))  # 10 classes: top-5 is kept too
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    progress = Progress(mode, epochs=1)
    try:
        with counted_host_reads() as counts:
            train_one_epoch(model, data(batches), nn.CrossEntropyLoss(), optimizer, "cpu", grad_clip=1.0, progress=progress)
            validate(model, data(batches), nn.CrossEntropyLoss(), "cpu", progress=progress)
    finally:
        progress.close()
    return sum(counts.values())


@pytest.mark.parametrize("mode", ["off", "lines", "bars"])
def test_host_reads_do_not_grow_with_the_number_of_batches(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Progress, "POSTFIX_INTERVAL", 1e9)  # one postfix per pass, however fast the machine
    few, many = host_reads(3, mode), host_reads(40, mode)
    assert few == many
    assert many <= 12  # the epoch's figures (loss, accuracy, top-5) for two passes, plus one postfix each in bars


def test_the_progress_postfix_is_read_at_a_bounded_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(step * 0.1 for step in range(10**6))  # every look at the clock: 0.1 s later
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    progress = Progress("bars", epochs=1)
    postfixes = []
    try:
        for _ in progress.batches(range(50), "train"):
            monkeypatch.setattr(progress.batch_bar, "set_postfix", lambda **values: postfixes.append(values))
            progress.show(_StubMetrics())
    finally:
        progress.close()
    assert 8 <= len(postfixes) <= 11  # every POSTFIX_INTERVAL (0.5 s) = every 5th batch, not every batch


class _StubMetrics:
    loss, accuracy = 0.5, 0.75


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_no_batch_waits_for_the_gpu() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 10)).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batches, consumed = data(20, device="cuda"), []

    def feed():
        for batch in batches:
            consumed.append(batch)
            yield batch

    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with pytest.raises(RuntimeError):  # the epoch's figures are read once, at the end...
            train_one_epoch(model, feed(), nn.CrossEntropyLoss(), optimizer, "cuda", grad_clip=1.0)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert len(consumed) == len(batches)  # ...after every batch ran without waiting for the GPU
