"""B1 loop overhead: ``fit`` against a bare PyTorch loop, CIFAR ResNet-20 on the CPU, the same tensors.

Both sides train the same ResNet-20 (same initial weights) on the same in-memory tensors in the same
order (one epoch of a freshly seeded loader) for a few hundred steps. ``fit`` runs as a notebook calls
it: progress bars (drawn into a buffer) and a checkpoint written at the end of the epoch. The two
must end with the same weights and a finite loss before a ratio is reported.

On a shared machine a whole run's time swings by 10-20 % with the other processes' load, far more
than the overhead measured. So both loaders are wrapped in the same clock that records the time of
every step (fetching the batch, the loop's own work and the model's), and the ratio is the bare
loop's median step over ``fit``'s median step (1.0: no overhead per step): a median ignores the
steps a burst of load slowed down. Whole-run times (alternating rounds) are reported beside it,
and so is ``fit``'s fixed cost per run (the checkpoint, the bars).

    python benchmarks/bench_loop.py                  # 200 steps of batch 32, 3 rounds
    python benchmarks/bench_loop.py --steps 400 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common import Result, check, check_finite, guarded, seconds, timed

from course_utils.models.cifar_resnet import cifar_resnet  # noqa: E402
from course_utils.training import fit  # noqa: E402

TARGET = 0.97


class StepClock:
    """A loader that notes the time between consecutive batches (one training step each); otherwise the loader."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.steps: list[float] = []

    def __iter__(self) -> Iterator[Any]:
        last = None
        for batch in self.loader:
            now = time.perf_counter()
            if last is not None:
                self.steps.append(now - last)
            last = now
            yield batch

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:  # dataset, sampler, generator: what fit reads of a DataLoader
        return getattr(self.loader, name)


def model() -> nn.Module:
    torch.manual_seed(0)
    return cifar_resnet(20)


def tensors(samples: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(samples, 3, 32, 32, generator=generator)
    return TensorDataset(images, torch.randint(0, 10, (samples,), generator=generator))


def loader(data: TensorDataset, batch_size: int) -> StepClock:
    return StepClock(DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(1)))


def optimizer_for(network: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


def bare_loop(data: TensorDataset, batch_size: int) -> tuple[nn.Module, float, list[float]]:
    """The loop everyone writes first, without bookkeeping; returns the model, the last batch's loss, step times."""
    network, device = model(), torch.device("cpu")
    optimizer, loss_fn = optimizer_for(network), nn.CrossEntropyLoss()
    batches = loader(data, batch_size)
    network.train()
    for inputs, labels in batches:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(inputs), labels)
        loss.backward()
        optimizer.step()
    return network, loss.item(), batches.steps


def with_fit(data: TensorDataset, batch_size: int) -> tuple[nn.Module, float, list[float]]:
    """``fit`` as a notebook calls it: bars (into a buffer) and a checkpoint; returns the model, epoch loss, step times."""
    network, batches = model(), loader(data, batch_size)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):  # fmt: skip
        history = fit(network, batches, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer_for(network), epochs=1,
                      device="cpu", progress="bars", checkpoint=Path(folder) / "b1.pt")  # fmt: skip
    return network, history[-1]["train_loss"], batches.steps


def run(steps: int = 200, batch_size: int = 32, rounds: int = 3) -> Result:
    result = Result("B1", "loop overhead: fit vs bare loop (ResNet-20, CPU, in-memory tensors)", TARGET, "higher",
                    command=f"python benchmarks/bench_loop.py --steps {steps} --batch-size {batch_size} --rounds {rounds}")  # fmt: skip

    def measure(result: Result) -> None:
        data = tensors(steps * batch_size)
        runs: dict[str, list[float]] = {"bare": [], "fit": []}
        step_times: dict[str, list[float]] = {"bare": [], "fit": []}
        sides = {"bare": bare_loop, "fit": with_fit}
        for round_number in range(rounds):
            order = ("bare", "fit") if round_number % 2 == 0 else ("fit", "bare")
            ended = {}
            for side in order:
                took, ended[side] = timed(lambda: sides[side](data, batch_size))
                runs[side].append(took)
                step_times[side] += ended[side][2]
            (bare_model, bare_loss, _), (fit_model, fit_loss, _) = ended["bare"], ended["fit"]
            check_finite(bare_loss, "the bare loop's last loss")
            check_finite(fit_loss, "fit's epoch loss")
            for (name, a), (_, b) in zip(bare_model.state_dict().items(), fit_model.state_dict().items()):
                check(torch.allclose(a.float(), b.float(), atol=1e-5), f"weights {name} differ: not the same training")
        check(len(step_times["bare"]) == len(step_times["fit"]), "the two sides took different numbers of steps")
        bare_step, fit_step = statistics.median(step_times["bare"]), statistics.median(step_times["fit"])
        result.ratio = bare_step / fit_step
        paired = statistics.median(bare / took for bare, took in zip(runs["bare"], runs["fit"]))
        outside = {side: statistics.median(took - steps * step for took in runs[side])
                   for side, step in (("bare", bare_step), ("fit", fit_step))}  # fmt: skip
        fixed = outside["fit"] - outside["bare"]  # set-up, checkpoint, bars: once per run, not per step
        result.course = f"{fit_step * 1000:.1f} ms/step"
        result.reference = f"{bare_step * 1000:.1f} ms/step"
        result.note = (
            f"median of {len(step_times['fit'])} steps per side ({rounds} alternating rounds of {steps} steps, batch "
            f"{batch_size}); whole runs: bare {', '.join(seconds(t) for t in runs['bare'])}, fit "
            f"{', '.join(seconds(t) for t in runs['fit'])}, median paired ratio {paired:.3f}; fit's extra time once per run "
            f"(set-up, checkpoint) {fixed:+.2f} s; both sides end with the same weights"
        )
        result.figures = {"steps": steps, "batch_size": batch_size, "bare_seconds": runs["bare"], "fit_seconds": runs["fit"],
                          "median_paired_run_ratio": round(paired, 4), "fit_fixed_seconds": round(fixed, 3)}  # fmt: skip

    return guarded(result, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.steps, args.batch_size, args.rounds)
    print(f"B1 ratio {result.ratio}, target {result.target_text}: {result.course} vs {result.reference}; {result.note}")


if __name__ == "__main__":
    main()
