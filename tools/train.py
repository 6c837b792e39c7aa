"""Train a course model from the command line: one process, or several GPUs with torchrun.

    python tools/train.py simple_cnn --checkpoint 01_simple_cnn_cifar10
    torchrun --nproc_per_node=4 tools/train.py cifar_resnet56 --checkpoint resnet56_cifar10 --epochs 160 --lr 0.4

Notebooks run in one process; this script runs the same ``cu.fit`` a notebook calls, so ``torchrun``
can start one process per GPU (DistributedDataParallel: see ``course_utils/distributed.py``). It
writes the checkpoint where the notebook looks (``course.checkpoint_path(NAME)`` of the profile):
run the notebook afterwards and its ``fit`` cell loads the finished run instead of training, as
long as the classes, input size and normalisation agree (``fit`` refuses a checkpoint that
differs) and the script trained at least the notebook's number of epochs.

Data: ``cu.load_dataset(DATASET)``'s train and val splits, decoded once into tensors
(``cu.tensordata.image_loader``), CIFAR-10 at 32 px with 4-pixel crops and flips and its own
statistics, the photo datasets at ``--size`` with ImageNet statistics and flips. Optimiser: SGD with
momentum 0.9, weight decay 5e-4 and a cosine schedule, as in notebook 01. ``--batch-size`` is per
process: with N processes the global batch is N times larger.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout without installing

import course_utils as cu  # noqa: E402
from course_utils import distributed  # noqa: E402
from course_utils.models.cifar_resnet import cifar_resnet  # noqa: E402
from course_utils.models.resnet import resnet  # noqa: E402
from course_utils.tensordata import BatchAugment, image_loader  # noqa: E402
from course_utils.transforms import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

MODELS: dict[str, Callable[[int], nn.Module]] = {
    "simple_cnn": lambda classes: cu.models.SimpleCNN(num_classes=classes),
    "lenet5": lambda classes: cu.models.LeNet5(num_classes=classes, in_channels=3),
    "cifar_resnet20": lambda classes: cifar_resnet(20, classes),
    "cifar_resnet56": lambda classes: cifar_resnet(56, classes),
    "resnet18": lambda classes: resnet(18, classes),
    "resnet50": lambda classes: resnet(50, classes),
}
"""Models by name; any other ``package.module:function`` is called with ``num_classes``."""


def build_model(name: str, classes: int) -> nn.Module:
    if name in MODELS:
        return MODELS[name](classes)
    module, _, function = name.partition(":")
    if not function:
        raise SystemExit(f"unknown model {name!r}: choose one of {', '.join(MODELS)} or give package.module:function")
    return getattr(importlib.import_module(module), function)(num_classes=classes)


def loaders(data: cu.datasets.CourseData, size: int, batch_size: int, seed: int):
    """Train and val loaders over decoded tensors, augmented a batch at a time."""
    if data.name == "cifar10":
        size, mean, std, augment = 32, CIFAR10_MEAN, CIFAR10_STD, BatchAugment(crop_padding=4, flip=True)
    else:
        mean, std, augment = IMAGENET_MEAN, IMAGENET_STD, BatchAugment(crop_padding=0, flip=True)
    common = dict(size=size, mean=mean, std=std)
    train = image_loader(data.train, batch_size, **common, augment=augment, shuffle=True, seed=seed, drop_last=True)
    val = image_loader(data.val, batch_size, **common)
    return train, val


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help=f"{', '.join(MODELS)}, or package.module:function(num_classes=)")
    parser.add_argument("--checkpoint", required=True, help="the run's name, as the notebook calls checkpoint_path(NAME)")
    parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "cats_dogs", "rocks"])
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--batch-size", type=int, default=128, help="per process")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--size", type=int, default=224, help="image size for the photo datasets")
    parser.add_argument("--profile", default=None, help="quick or full (default: COURSE_PROFILE, else full)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    quiet = distributed.launched() and int(os.environ.get("RANK", "0")) != 0
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull if quiet else sys.stdout):
        course = cu.setup(seed=args.seed, profile=args.profile or os.environ.get("COURSE_PROFILE") or "full")
        device = distributed.start(course.device)  # under torchrun: join the others now, so caches are made once
        with distributed.main_process_first():  # process 0 finds, screens and decodes; the others read its caches
            data = cu.load_dataset(args.dataset)
            train_loader, val_loader = loaders(data, args.size, args.batch_size, args.seed)
        torch.manual_seed(args.seed)
        model = build_model(args.model, len(data.classes))
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
        epochs = args.epochs or course.profile.epochs
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        history = cu.fit(
            model, train_loader, val_loader, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, scheduler=scheduler,
            epochs=epochs, device=device, checkpoint=course.checkpoint_path(args.checkpoint),
        )  # fmt: skip
        if distributed.is_main_process():
            best = history.best("val_acc")
            print(f"best val accuracy {best['val_acc']:.2%} (epoch {best['epoch']}); "
                  f"checkpoint {course.checkpoint_path(args.checkpoint)}")  # fmt: skip


if __name__ == "__main__":
    main()
