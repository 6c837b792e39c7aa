"""Train the course's own pretrained backbone: a CIFAR-10 ResNet-20, on all 50,000 training images.

    python tools/train_backbone.py            # train (resumes after an interruption), evaluate, export
    python tools/train_backbone.py --export   # only evaluate the finished checkpoint and export it
    make backbone BACKBONE_ARGS="--epochs 160" # a longer schedule (a GPU, or a night of CPU)

Transfer learning needs a network pretrained on a larger dataset, and ImageNet weights need the
internet. This script trains ResNet-20 with the course's own code (``fit``, the decoded-tensor data
path), evaluates it once on the 10,000 test images, and writes the weights and their provenance
(command, seed, epochs, hardware, wall time, test accuracy, sha256) into ``course_utils/weights``,
which ships inside the package. The recipe is fixed in advance (the paper's, with a cosine
schedule so that it fits a CPU budget); the test split is used for nothing but the final report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import course_utils as cu  # noqa: E402
from course_utils.datasets import ImageDataset  # noqa: E402
from course_utils.models.cifar_resnet import cifar_resnet  # noqa: E402
from course_utils.pretrained import BACKBONE_DIR, BACKBONE_NAME  # noqa: E402
from course_utils.tensordata import BatchAugment, batch_loader, decode_images  # noqa: E402
from course_utils.transforms import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402

DEPTH = 20
SEED = 0
BATCH_SIZE = 128
LEARNING_RATE = 0.1
WEIGHT_DECAY = 5e-4
WARMUP_EPOCHS = 2
EPOCHS = 40


def warmup_cosine(epochs: int):
    """Learning-rate factor per epoch: linear warm-up, then a cosine decay to zero."""

    def factor(epoch: int) -> float:
        if epoch < WARMUP_EPOCHS:
            return (epoch + 1) / WARMUP_EPOCHS
        progress = (epoch - WARMUP_EPOCHS) / max(1, epochs - WARMUP_EPOCHS)
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"  # threads may differ per resumed run


def checkpoint_name(epochs: int, limit: int | None = None) -> str:
    """One checkpoint per recipe: a run with other epochs (another cosine schedule) never resumes this one's."""
    name = BACKBONE_NAME if epochs == EPOCHS else f"{BACKBONE_NAME}-{epochs}ep"
    return f"{name}-limit{limit}" if limit else name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--export", action="store_true", help="only evaluate and export a finished run")
    parser.add_argument("--limit", type=int, default=None, help="train on N images spread over the classes (smoke test)")
    parser.add_argument("--note", default="", help="a remark for the provenance file (e.g. how the machine was shared)")
    args = parser.parse_args()

    course = cu.setup(seed=SEED, profile="full")
    data = cu.load_dataset("cifar10", profile="full")
    every_training_image = ImageDataset(data.train.samples + data.val.samples, data.classes)
    if args.limit:
        every_training_image.samples = every_training_image.samples[:: len(every_training_image) // args.limit][: args.limit]
    decoded_dir = course.cache_dir / "decoded"
    train = decode_images(every_training_image, size=32, cache_dir=decoded_dir)
    test = decode_images(data.test, size=32, cache_dir=decoded_dir)
    train_loader = batch_loader(
        train, BATCH_SIZE, mean=CIFAR10_MEAN, std=CIFAR10_STD, augment=BatchAugment(crop_padding=4, flip=True),
        shuffle=True, seed=SEED, drop_last=True,
    )  # fmt: skip
    test_loader = batch_loader(test, 500, mean=CIFAR10_MEAN, std=CIFAR10_STD)

    torch.manual_seed(SEED)
    model = cifar_resnet(DEPTH).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=LEARNING_RATE, momentum=0.9, nesterov=True, weight_decay=WEIGHT_DECAY
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(args.epochs))
    checkpoint = course.checkpoint_path(checkpoint_name(args.epochs, args.limit))
    if args.export and not checkpoint.is_file():
        raise SystemExit(f"no finished run at {checkpoint}: train first")
    history = cu.fit(
        model, train_loader, None, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, scheduler=scheduler,
        epochs=args.epochs, checkpoint=checkpoint,
    )  # fmt: skip
    result = cu.evaluate(model, test_loader, loss_fn=nn.CrossEntropyLoss())
    print(f"test accuracy {result.accuracy:.2%} on {len(test)} images")
    if args.limit:
        return
    export(model, history, result.accuracy, len(train), len(test), args.epochs, args.note)


def export(
    model: nn.Module, history, test_accuracy: float, train_images: int, test_images: int, epochs: int, note: str = ""
) -> None:
    BACKBONE_DIR.mkdir(parents=True, exist_ok=True)
    weights_file = BACKBONE_DIR / f"{BACKBONE_NAME}.pt"
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    torch.save(state, weights_file)
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    provenance = {
        "name": BACKBONE_NAME,
        "architecture": f"course_utils.models.cifar_resnet.cifar_resnet({DEPTH})",
        "dataset": f"CIFAR-10 JPEG copy, all {train_images} training images (train + val of load_dataset)",
        "command": "make backbone  # = python tools/train_backbone.py"
        if epochs == EPOCHS
        else f'make backbone BACKBONE_ARGS="--epochs {epochs}"  # = python tools/train_backbone.py --epochs {epochs}',
        "seed": SEED,
        "epochs": epochs,
        "recipe": {
            "optimizer": f"SGD lr {LEARNING_RATE}, momentum 0.9, nesterov, weight decay {WEIGHT_DECAY}, batch {BATCH_SIZE}",
            "schedule": f"{WARMUP_EPOCHS}-epoch linear warm-up, then cosine to 0 (per epoch)",
            "augmentation": "random crop 32 after 4-pixel zero padding, horizontal flip",
            "normalisation": {"mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD)},
        },
        "hardware": hardware(),
        "train_seconds": round(sum(record["seconds"] for record in history), 1),
        "epoch_seconds": [round(record["seconds"], 1) for record in history],
        "final_train_loss": round(history[-1]["train_loss"], 4),
        "test_accuracy": round(test_accuracy, 4),
        "test_images": test_images,
        "torch": torch.__version__,
        "trained_at": time.strftime("%Y-%m-%d"),
        "sha256": digest,
    }
    if note:
        provenance["note"] = note
    (BACKBONE_DIR / f"{BACKBONE_NAME}.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {weights_file} ({weights_file.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}...)")


if __name__ == "__main__":
    main()
