"""B1 loop overhead: ``fit`` against a bare PyTorch loop, CIFAR ResNet-20 on the CPU, the same tensors.

Both sides train the same ResNet-20 (same initial weights) on the same in-memory tensors in the same
order (one epoch of a freshly seeded loader) for a few hundred steps. ``fit`` runs as a notebook calls
it: progress bars (drawn into a buffer) and a checkpoint written at the end of the epoch. The two
must end with the same weights and a finite loss before a ratio is reported. Rounds alternate the
two sides; the fastest round of each (the least disturbed by other processes) gives the ratio of
throughputs, bare time / fit time: 1.0 means no overhead.

    python benchmarks/bench_loop.py                  # 200 steps of batch 32, 3 rounds
    python benchmarks/bench_loop.py --steps 400 --rounds 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common import Result, check, check_finite, guarded, seconds, timed

from course_utils.models.cifar_resnet import cifar_resnet  # noqa: E402
from course_utils.training import fit  # noqa: E402

TARGET = 0.97


def model() -> nn.Module:
    torch.manual_seed(0)
    return cifar_resnet(20)


def tensors(samples: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(samples, 3, 32, 32, generator=generator), torch.randint(0, 10, (samples,), generator=generator))


def loader(data: TensorDataset, batch_size: int) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(1))


def optimizer_for(network: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(network.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)


def bare_loop(data: TensorDataset, batch_size: int) -> tuple[nn.Module, float]:
    """The loop everyone writes first, without bookkeeping; returns the model and the last batch's loss."""
    network, device = model(), torch.device("cpu")
    optimizer, loss_fn = optimizer_for(network), nn.CrossEntropyLoss()
    network.train()
    for inputs, labels in loader(data, batch_size):
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(inputs), labels)
        loss.backward()
        optimizer.step()
    return network, loss.item()


def with_fit(data: TensorDataset, batch_size: int) -> tuple[nn.Module, float]:
    """``fit`` as a notebook calls it: bars (into a buffer) and a checkpoint; returns the model and the epoch loss."""
    network = model()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()), \
            contextlib.redirect_stdout(io.StringIO()):  # fmt: skip
        history = fit(network, loader(data, batch_size), loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer_for(network),
                      epochs=1, device="cpu", progress="bars", checkpoint=Path(folder) / "b1.pt")  # fmt: skip
    return network, history[-1]["train_loss"]


def run(steps: int = 200, batch_size: int = 32, rounds: int = 3) -> Result:
    result = Result("B1", "loop overhead: fit vs bare loop (ResNet-20, CPU, in-memory tensors)", TARGET, "higher",
                    command=f"python benchmarks/bench_loop.py --steps {steps} --batch-size {batch_size} --rounds {rounds}")  # fmt: skip

    def measure(result: Result) -> None:
        data = tensors(steps * batch_size)
        times: dict[str, list[float]] = {"bare": [], "fit": []}
        sides = {"bare": bare_loop, "fit": with_fit}
        for round_number in range(rounds):
            order = ("bare", "fit") if round_number % 2 == 0 else ("fit", "bare")
            ended = {}
            for side in order:
                took, ended[side] = timed(lambda: sides[side](data, batch_size))
                times[side].append(took)
            (bare_model, bare_loss), (fit_model, fit_loss) = ended["bare"], ended["fit"]
            check_finite(bare_loss, "the bare loop's last loss")
            check_finite(fit_loss, "fit's epoch loss")
            for (name, a), (_, b) in zip(bare_model.state_dict().items(), fit_model.state_dict().items()):
                check(torch.allclose(a.float(), b.float(), atol=1e-5), f"weights {name} differ: not the same training")
        best_bare, best_fit = min(times["bare"]), min(times["fit"])
        result.ratio = best_bare / best_fit
        paired = statistics.median(bare / took for bare, took in zip(times["bare"], times["fit"]))
        result.course = f"{best_fit / steps * 1000:.1f} ms/step"
        result.reference = f"{best_bare / steps * 1000:.1f} ms/step"
        result.note = (
            f"{steps} steps of batch {batch_size}, {rounds} alternating rounds, fastest round of each "
            f"(bare {seconds(best_bare)}, fit {seconds(best_fit)}); median of the paired round ratios {paired:.3f}; "
            "both sides end with the same weights"
        )
        result.figures = {"steps": steps, "batch_size": batch_size, "bare_seconds": times["bare"], "fit_seconds": times["fit"],
                          "median_paired_ratio": round(paired, 4)}  # fmt: skip

    return guarded(result, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.steps, args.batch_size, args.rounds)
    print(f"B1 ratio {result.ratio}, target {result.target_text}: {result.note}")


if __name__ == "__main__":
    main()
