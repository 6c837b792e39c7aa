"""B1 loop overhead: ``fit`` against a bare PyTorch loop, CIFAR ResNet-20 on the CPU, the same tensors.

Both sides train the same ResNet-20 (same initial weights) on the same in-memory tensors in the same
order (one epoch of a freshly seeded loader) for a few hundred steps. ``fit`` runs as a notebook calls
it: progress bars (drawn into a buffer) and a checkpoint written at the end of the epoch. The two
must end with the same weights and a finite loss before a ratio is reported.

On a shared machine a whole run's time swings by 10-20 % with the other processes' load, far more
than the overhead to be measured. So the two loops run side by side in lockstep, taking turns one
step at a time (two threads, only one of them running at any moment): step k of the bare loop
and step k of ``fit`` run a fraction of a second apart, under the same load. Each side's time is
its steps (fetching the batch, the loop's own work, the model's) plus what it does outside them
(``fit``: set-up, the checkpoint); the ratio is bare time / ``fit`` time, a throughput ratio
(1.0: no overhead).

    python benchmarks/bench_loop.py                  # 2 rounds of 200 steps of batch 32
    python benchmarks/bench_loop.py --steps 400 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common import Result, check, check_finite, guarded

from course_utils.models.cifar_resnet import cifar_resnet  # noqa: E402
from course_utils.training import fit  # noqa: E402

TARGET = 0.97
SIDES = ("bare", "fit")


class Lockstep:
    """Two training loops that take turns, one step each; every step's own time is noted, not the waiting."""

    def __init__(self, first: str = SIDES[0]) -> None:
        self.condition = threading.Condition()
        self.turn, self.done = first, set()
        self.steps: dict[str, list[float]] = {side: [] for side in SIDES}
        self.waited: dict[str, float] = {side: 0.0 for side in SIDES}

    def _wait_for_turn(self, side: str) -> None:
        started = time.perf_counter()
        with self.condition:
            self.condition.wait_for(lambda: self.turn == side or self._other(side) in self.done)
        self.waited[side] += time.perf_counter() - started

    def _pass_turn(self, side: str, finished: bool = False) -> None:
        with self.condition:
            if finished:
                self.done.add(side)
            self.turn = self._other(side)
            self.condition.notify_all()

    @staticmethod
    def _other(side: str) -> str:
        return SIDES[1 - SIDES.index(side)]

    def loader(self, side: str, loader: DataLoader) -> LockstepLoader:
        return LockstepLoader(self, side, loader)

    def run(self, side: str, work: Callable[[], Any], results: dict[str, Any]) -> threading.Thread:
        def target() -> None:
            started = time.perf_counter()
            try:
                results[side] = work()
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                results[side] = error
            finally:
                results[f"{side} seconds"] = time.perf_counter() - started
                self._pass_turn(side, finished=True)

        thread = threading.Thread(target=target, name=f"B1 {side}")
        thread.start()
        return thread


class LockstepLoader:
    """A DataLoader whose every step (from asking for a batch to asking for the next) waits for its turn."""

    def __init__(self, lockstep: Lockstep, side: str, loader: DataLoader) -> None:
        self.lockstep, self.side, self.loader = lockstep, side, loader

    def __iter__(self) -> Iterator[Any]:
        batches = iter(self.loader)
        while True:
            self.lockstep._wait_for_turn(self.side)
            started = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            yield batch  # the loop trains on it, then asks for the next batch
            self.lockstep.steps[self.side].append(time.perf_counter() - started)
            self.lockstep._pass_turn(self.side)

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


def loader(data: TensorDataset, batch_size: int) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(1))


def optimizer_for(network: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


def bare_loop(network: nn.Module, batches: Any) -> float:
    """The loop everyone writes first, without bookkeeping; returns the last batch's loss."""
    device, optimizer, loss_fn = torch.device("cpu"), optimizer_for(network), nn.CrossEntropyLoss()
    network.train()
    for inputs, labels in batches:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(inputs), labels)
        loss.backward()
        optimizer.step()
    return loss.item()


def with_fit(network: nn.Module, batches: Any, folder: str) -> float:
    """``fit`` as a notebook calls it: bars and a checkpoint; returns the epoch loss."""
    history = fit(network, batches, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer_for(network), epochs=1,
                  device="cpu", progress="bars", checkpoint=Path(folder) / "b1.pt")  # fmt: skip
    return history[-1]["train_loss"]


def lockstep_round(data: TensorDataset, batch_size: int, first: str) -> tuple[dict[str, Any], Lockstep]:
    """One epoch of each side, in turns (``first`` begins); the models are made here, before the threads
    start (they share one random generator)."""
    lockstep, results = Lockstep(first), {}
    networks = {side: model() for side in SIDES}
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):  # fmt: skip
        work = {
            "bare": lambda: bare_loop(networks["bare"], lockstep.loader("bare", loader(data, batch_size))),
            "fit": lambda: with_fit(networks["fit"], lockstep.loader("fit", loader(data, batch_size)), folder),
        }
        for thread in [lockstep.run(side, work[side], results) for side in SIDES]:
            thread.join()
    for side in SIDES:
        if isinstance(results[side], BaseException):
            raise results[side]
    results["networks"] = networks
    return results, lockstep


def run(steps: int = 200, batch_size: int = 32, rounds: int = 2) -> Result:
    result = Result("B1", "loop overhead: fit vs bare loop (ResNet-20, CPU, in-memory tensors)", TARGET, "higher",
                    command=f"python benchmarks/bench_loop.py --steps {steps} --batch-size {batch_size} --rounds {rounds}")  # fmt: skip

    def measure(result: Result) -> None:
        data = tensors(steps * batch_size)
        totals = {side: 0.0 for side in SIDES}
        outside = {side: 0.0 for side in SIDES}
        pair_ratios = []
        bare_loop(model(), [data[:batch_size]] * 3)  # warm-up: the first steps in a process set up the kernels
        for round_number in range(rounds):
            ended, lockstep = lockstep_round(data, batch_size, first=SIDES[round_number % 2])
            check_finite(ended["bare"], "the bare loop's last loss")
            check_finite(ended["fit"], "fit's epoch loss")
            bare_model, fit_model = ended["networks"]["bare"], ended["networks"]["fit"]
            for (name, a), (_, b) in zip(bare_model.state_dict().items(), fit_model.state_dict().items()):
                check(torch.allclose(a.float(), b.float(), atol=1e-5), f"weights {name} differ: not the same training")
            check(len(lockstep.steps["bare"]) == len(lockstep.steps["fit"]) == steps, "the sides took other step counts")
            for side in SIDES:
                busy = ended[f"{side} seconds"] - lockstep.waited[side]
                totals[side] += busy
                outside[side] += busy - sum(lockstep.steps[side])
            pair_ratios += [bare / took for bare, took in zip(lockstep.steps["bare"], lockstep.steps["fit"])]
        result.ratio = totals["bare"] / totals["fit"]
        per_step = {side: (totals[side] - outside[side]) / (steps * rounds) for side in SIDES}
        result.course = f"{totals['fit'] / rounds:.1f} s ({per_step['fit'] * 1000:.1f} ms/step)"
        result.reference = f"{totals['bare'] / rounds:.1f} s ({per_step['bare'] * 1000:.1f} ms/step)"
        extra_step = (per_step["fit"] - per_step["bare"]) * 1e6
        extra_run = (outside["fit"] - outside["bare"]) / rounds
        result.note = (
            f"{rounds} round(s) of {steps} steps of batch {batch_size}, the two loops taking turns step by step "
            "(each side beginning in turn); "
            f"fit minus bare: {extra_step / 1000:+.2f} ms per step, {extra_run:+.2f} s once per run (set-up, checkpoint); "
            f"median ratio of paired steps {statistics.median(pair_ratios):.3f}; both sides end with the same weights"
        )
        result.figures = {"steps": steps, "batch_size": batch_size, "rounds": rounds, "bare_seconds": totals["bare"],
                          "fit_seconds": totals["fit"], "fit_extra_us_per_step": round(extra_step, 1),
                          "fit_extra_seconds_per_run": round(extra_run, 3)}  # fmt: skip

    return guarded(result, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="the sides take turns beginning (alternating)")
    args = parser.parse_args()
    result = run(args.steps, args.batch_size, args.rounds)
    print(f"B1 ratio {result.ratio}, target {result.target_text}: {result.course} vs {result.reference}; {result.note}")


if __name__ == "__main__":
    main()
