"""B2 data path: one epoch of LeNet-5 over the CIFAR-10 JPEG train set, the course's path vs the lecture's.

- lecture: ``ImageFolder`` + PIL + ``ToTensor`` (+ ``Normalize``) + ``DataLoader(batch_size=64, shuffle=True)``,
  decoding every JPEG every epoch, and the lecture's loop (``loss.item()`` after every batch);
- course: :func:`course_utils.tensordata.decode_images` (a uint8 tensor, cached on disk) +
  :func:`~course_utils.tensordata.batch_loader` (batch 64, normalised a whole batch at a time) + ``fit``.

Both time everything from the list of files to the end of the epoch. "Warm": the decoded cache is
on disk already (every run after the first); "cold": the first run, which decodes and writes the
cache. Both sides see the same 50,000 files in the same shuffled order, start from the same
LeNet-5 weights, and must end the epoch with finite losses that agree; then the ratio of the warm
course epoch to the lecture epoch is reported (target <= 0.30), next to LeNet's compute alone (the
same epoch over batches prepared in memory beforehand): no data path can beat that floor, so the
note says how far above it the course's epoch is.

    python benchmarks/bench_data_path.py                       # $COURSE_DATA_DIR/cifar10/train
    python benchmarks/bench_data_path.py --root some/imagefolder --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import math
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from common import Result, check, check_finite, data_dir, guarded, seconds, timed

from course_utils.datasets import ImageDataset  # noqa: E402
from course_utils.models.lenet import LeNet5  # noqa: E402
from course_utils.tensordata import batch_loader, decode_images  # noqa: E402
from course_utils.training import fit  # noqa: E402
from course_utils.transforms import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402

TARGET = 0.30
BATCH_SIZE = 64
LOSS_AGREEMENT = 0.02
"""Relative difference allowed between the two epoch losses (same data and start; float order differs)."""


def lenet(classes: int) -> nn.Module:
    torch.manual_seed(0)
    return LeNet5(num_classes=classes, in_channels=3)


def digest(network: nn.Module) -> str:
    hasher = hashlib.sha256()
    for tensor in network.state_dict().values():
        hasher.update(tensor.numpy().tobytes())
    return hasher.hexdigest()[:16]


def lecture_epoch(root: Path) -> dict:
    """The lecture's path, from the folder to the end of one epoch."""
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    dataset = datasets.ImageFolder(str(root), transform=to_tensor)
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(0))
    model = lenet(len(dataset.classes))
    start = digest(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    running_loss, seen = 0.0, 0
    for inputs, labels in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * inputs.size(0)  # the lecture's bookkeeping
        seen += inputs.size(0)
    return {"samples": list(dataset.samples), "seen": seen, "loss": running_loss / seen, "start": start}


def course_epoch(root: Path, cache_dir: Path) -> dict:
    """The course's path, from the folder to the end of one epoch (decoding only when the cache is cold)."""
    listing = datasets.ImageFolder(str(root))  # the same file list the lecture's path reads
    images = ImageDataset(listing.samples, listing.classes)
    decoded = decode_images(images, size=32, cache_dir=cache_dir, progress=False)
    loader = batch_loader(decoded, BATCH_SIZE, mean=CIFAR10_MEAN, std=CIFAR10_STD, shuffle=True, seed=0)
    model = lenet(len(listing.classes))
    start = digest(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    with contextlib.redirect_stdout(io.StringIO()):
        history = fit(model, loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, device="cpu",
                      progress=False)  # fmt: skip
    return {"samples": list(listing.samples), "seen": len(decoded), "loss": history[-1]["train_loss"], "start": start}


def compute_floor(decoded, classes: int) -> float:
    """LeNet's compute alone: the same epoch over batches already normalised in memory, no data path at all."""
    loader = batch_loader(decoded, BATCH_SIZE, mean=CIFAR10_MEAN, std=CIFAR10_STD, shuffle=True, seed=0)
    batches = list(loader)  # prepared before the clock starts
    model = lenet(classes)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def epoch() -> torch.Tensor:
        total = torch.zeros(())
        for inputs, labels in batches:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), labels)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(labels)  # on the tensor side, no host sync per step, as in fit
        return total / len(decoded)

    took, loss = timed(epoch)
    check_finite(float(loss), "the compute-only epoch loss")
    return took


def run(root: Path | None = None, rounds: int = 1) -> Result:
    root = root or ((data_dir() / "cifar10" / "train") if data_dir() else None)
    result = Result("B2", "data path: one LeNet-5 epoch over the CIFAR-10 JPEG train set", TARGET, "lower",
                    command=f"python benchmarks/bench_data_path.py --root {root} --rounds {rounds}")  # fmt: skip
    if root is None or not Path(root).is_dir():
        result.note = "not run: no CIFAR-10 JPEG folder ($COURSE_DATA_DIR/cifar10/train)"
        return result

    def measure(result: Result) -> None:
        with tempfile.TemporaryDirectory(prefix="bench-decoded-") as cache:
            cold, cold_run = timed(lambda: course_epoch(Path(root), Path(cache)))
            listing = datasets.ImageFolder(str(root))
            decoded = decode_images(ImageDataset(listing.samples, listing.classes), size=32, cache_dir=Path(cache),
                                    progress=False)  # fmt: skip
            lecture_times, warm_times, floor_times = [], [], []
            for _ in range(rounds):  # alternate, so that a change in the machine's load hits every side
                took, lecture_run = timed(lambda: lecture_epoch(Path(root)))
                lecture_times.append(took)
                took, warm_run = timed(lambda: course_epoch(Path(root), Path(cache)))
                warm_times.append(took)
                floor_times.append(compute_floor(decoded, len(listing.classes)))
        for name, side in (("lecture", lecture_run), ("course (warm)", warm_run), ("course (cold)", cold_run)):
            check_finite(side["loss"], f"the {name} epoch loss")
            check(side["samples"] == lecture_run["samples"], f"the {name} path read other files")
            check(side["seen"] == len(lecture_run["samples"]), f"the {name} epoch saw {side['seen']} samples")
            check(side["start"] == lecture_run["start"], f"the {name} path started from other weights")
        difference = abs(warm_run["loss"] - lecture_run["loss"]) / lecture_run["loss"]
        check(difference <= LOSS_AGREEMENT, f"epoch losses differ by {difference:.1%}: not the same training")
        check(math.isclose(warm_run["loss"], cold_run["loss"], rel_tol=1e-6), "the cached pixels differ from the decoded")
        lecture, warm, floor = min(lecture_times), min(warm_times), min(floor_times)
        result.ratio = warm / lecture
        result.course = f"warm {seconds(warm)}, cold {seconds(cold)}"
        result.reference = seconds(lecture)
        result.note = (
            f"{len(lecture_run['samples']):,} images, batch {BATCH_SIZE}, one epoch each, {rounds} round(s), no workers; "
            f"cold/lecture {cold / lecture:.2f}; LeNet's compute alone {seconds(floor)} = {floor / lecture:.2f} of the "
            f"lecture epoch (no data path can go below it), the warm course epoch {warm / floor:.2f}x that; "
            f"epoch losses {warm_run['loss']:.4f} (course) vs {lecture_run['loss']:.4f} (lecture)"
        )
        result.figures = {"images": len(lecture_run["samples"]), "lecture_seconds": lecture_times,
                          "warm_seconds": warm_times, "cold_seconds": cold, "cold_ratio": round(cold / lecture, 4),
                          "compute_seconds": floor_times, "compute_ratio": round(floor / lecture, 4)}  # fmt: skip

    return guarded(result, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None, help="an ImageFolder of 32x32 images (default: CIFAR-10 train)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    result = run(args.root, args.rounds)
    print(f"B2 ratio {result.ratio}, target {result.target_text}: {result.course} vs {result.reference}; {result.note}")


if __name__ == "__main__":
    main()
