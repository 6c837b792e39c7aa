"""Per-step overhead of ``fit()`` against a bare PyTorch training loop, on the CPU.

Both train the same model on the same tensors in the same batches (same seeds). For each variant
-- the bare loop; the bare loop plus a lecture's per-step ``loss.item()`` and accuracy count;
``fit`` silent; ``fit`` printing one line per epoch; ``fit`` with tqdm bars
(rendered into a buffer, not a terminal); ``fit`` with bars and a checkpoint after every epoch --
the table shows milliseconds per optimisation step and the ratio to the bare loop, side by side.

Two models: the small CNN (the headline number), and a single linear layer whose compute is
negligible, which exposes ``fit``'s fixed bookkeeping cost per step in microseconds.
Rounds are interleaved; the fastest round (least disturbed by other processes) and the median
are reported.

    python benchmarks/bench_fit_overhead.py               # about a minute on two CPU cores
    python benchmarks/bench_fit_overhead.py --rounds 9 --max-seconds 150
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

from course_utils.training import fit  # noqa: E402

ModelFactory = Callable[[], nn.Module]
Trainer = Callable[[ModelFactory, DataLoader, int], None]


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def linear_layer() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(8, 10))


def make_loader(shape: tuple[int, ...], samples: int, batch_size: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(samples, *shape, generator=generator)
    targets = torch.randint(0, 10, (samples,), generator=generator)
    return DataLoader(TensorDataset(inputs, targets), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(1))  # fmt: skip


def bare_loop(make_model: ModelFactory, loader: DataLoader, epochs: int) -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    device = torch.device("cpu")
    for _ in range(epochs):
        model.train()
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()


def lecture_loop(make_model: ModelFactory, loader: DataLoader, epochs: int) -> None:
    """The bare loop plus the bookkeeping a hand-written lecture loop does: ``loss.item()`` and correct counts."""
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        running_loss, running_correct = 0.0, 0
        for inputs, targets in loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * inputs.size(0)
            running_correct += int((outputs.argmax(1) == targets).sum())


def with_fit(progress: bool | str, checkpoint: bool = False) -> Trainer:
    def train(make_model: ModelFactory, loader: DataLoader, epochs: int) -> None:
        model = make_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):  # fmt: skip
            fit(
                model, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs, device="cpu",
                progress=progress, checkpoint=Path(folder) / "bench.pt" if checkpoint else None,
            )  # fmt: skip

    return train


VARIANTS: dict[str, Trainer] = {
    "bare loop": bare_loop,
    "lecture-style loop": lecture_loop,
    "fit, progress=False": with_fit(False),
    "fit, one line per epoch": with_fit("lines"),
    "fit, tqdm bars": with_fit("bars"),
    "fit, bars + checkpoint": with_fit("bars", checkpoint=True),
}


def measure(
    make_model: ModelFactory, loader: DataLoader, epochs: int, rounds: int, budget: float
) -> dict[str, list[float]]:
    """Milliseconds per step for every variant, over interleaved rounds (at least 3, then within ``budget`` s)."""
    for train in VARIANTS.values():  # warm-up: allocator, kernels, imports
        train(make_model, loader, 1)
    steps = epochs * len(loader)
    timings: dict[str, list[float]] = {name: [] for name in VARIANTS}
    started_all = time.perf_counter()
    for round_number in range(rounds):
        if round_number >= 3 and time.perf_counter() - started_all > budget:
            break  # a busy machine: stay within the time budget
        for name, train in VARIANTS.items():
            started = time.perf_counter()
            train(make_model, loader, epochs)
            timings[name].append((time.perf_counter() - started) / steps * 1000)
    return timings


def report(title: str, timings: dict[str, list[float]]) -> None:
    bare_best, bare_median = min(timings["bare loop"]), statistics.median(timings["bare loop"])
    print(f"\n{title} ({len(timings['bare loop'])} rounds)")
    print(f"{'variant':<26}{'best ms/step':>13}{'ratio':>8}{'median ms/step':>16}{'ratio':>8}{'extra us/step':>15}")
    for name, values in timings.items():
        best, median = min(values), statistics.median(values)
        print(
            f"{name:<26}{best:>13.3f}{best / bare_best:>7.3f}x{median:>16.3f}{median / bare_median:>7.3f}x"
            f"{(best - bare_best) * 1000:>15.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--max-seconds", type=float, default=70.0, help="time budget for the rounds (at least 3)")
    args = parser.parse_args()

    cnn_loader = make_loader((3, 32, 32), args.samples, args.batch_size)
    linear_loader = make_loader((8,), args.samples, args.batch_size)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU | {args.samples} samples, "
        f"batch {args.batch_size}, {args.epochs} epochs = {args.epochs * len(cnn_loader)} steps per run"
    )
    print("best = fastest round (least disturbed by other processes); ratios are to the bare loop")
    cnn = measure(small_cnn, cnn_loader, args.epochs, args.rounds, args.max_seconds * 0.8)
    report("small CNN on 3x32x32 images", cnn)
    linear = measure(linear_layer, linear_loader, args.epochs, args.rounds, args.max_seconds * 0.2)
    report("single linear layer on 8 features (fixed cost per step)", linear)


if __name__ == "__main__":
    main()
