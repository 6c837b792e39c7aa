"""B3 feature-extraction transfer: extract once + ten head epochs on the cache vs one backbone forward pass.

Transfer learning with a frozen backbone should cost about one pass of the backbone over the
images, however many epochs the new head trains. The course's way
(:func:`course_utils.features.extract_features` once, then ``fit`` for ten epochs of the lecture's
head on the cached features) is timed against a bare forward pass of the same backbone over the same
images (the least any approach must spend). Both must produce the same features for the same
samples, and the head's loss must be finite. Ratio: course time / one backbone pass (target <= 1.3).

    python benchmarks/bench_features.py                       # the 10,000 CIFAR-10 test images
    python benchmarks/bench_features.py --images 2000
"""

from __future__ import annotations

import argparse
import contextlib
import io

import torch
from torch import nn

from common import ROOT, Result, check, check_finite, data_dir, guarded, seconds, timed

from course_utils.datasets import ImageDataset  # noqa: E402
from course_utils.features import extract_features, feature_loader, headless  # noqa: E402
from course_utils.models.cifar_resnet import cifar_resnet  # noqa: E402
from course_utils.tensordata import TensorImages, batch_loader, decode_images  # noqa: E402
from course_utils.training import fit  # noqa: E402
from course_utils.transfer import classifier_head  # noqa: E402
from course_utils.transforms import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402

TARGET = 1.3
HEAD_EPOCHS = 10
CACHE = ROOT / "build" / "bench-cache"


def cifar_images(limit: int | None) -> TensorImages | None:
    """The CIFAR-10 test images, decoded once (cached in build/bench-cache), every n-th one up to ``limit``."""
    folder = data_dir() / "cifar10" / "test" if data_dir() else None
    if folder is None or not folder.is_dir():
        return None
    classes = sorted(path.name for path in folder.iterdir() if path.is_dir())
    samples = [(str(path), label) for label, name in enumerate(classes) for path in sorted((folder / name).iterdir())]
    if limit and limit < len(samples):
        samples = samples[:: len(samples) // limit][:limit]
    return decode_images(ImageDataset(samples, classes), size=32, cache_dir=CACHE, progress=False)


def backbone() -> nn.Module:
    torch.manual_seed(0)
    return headless(cifar_resnet(20)).eval()  # the weights do not change the time


def reference_pass(images: TensorImages, batch_size: int) -> torch.Tensor:
    """One forward pass of the backbone over every image, nothing else."""
    network, outputs = backbone(), []
    with torch.inference_mode():
        for inputs, _ in batch_loader(images, batch_size, mean=CIFAR10_MEAN, std=CIFAR10_STD):
            outputs.append(network(inputs))
    return torch.cat(outputs)


def course_transfer(images: TensorImages, batch_size: int, head_epochs: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Features once, then ``head_epochs`` epochs of the lecture's head on them with ``fit``."""
    features = extract_features(backbone(), batch_loader(images, batch_size, mean=CIFAR10_MEAN, std=CIFAR10_STD),
                                device="cpu", progress=False)  # fmt: skip
    torch.manual_seed(0)
    head = classifier_head(features.width, num_classes=len(images.classes))
    with contextlib.redirect_stdout(io.StringIO()):
        history = fit(head, feature_loader(features, 64, shuffle=True), loss_fn=nn.NLLLoss(),
                      optimizer=torch.optim.Adam(head.parameters(), lr=1e-3), epochs=head_epochs, device="cpu",
                      progress=False)  # fmt: skip
    return features.features, features.targets, history


def run(images: TensorImages | None = None, limit: int | None = None, batch_size: int = 256,
        head_epochs: int = HEAD_EPOCHS) -> Result:  # fmt: skip
    result = Result("B3", f"feature extraction: extract + {head_epochs} head epochs vs one backbone pass", TARGET,
                    "lower", command="python benchmarks/bench_features.py" + (f" --images {limit}" if limit else ""))  # fmt: skip
    images = images if images is not None else cifar_images(limit)
    if images is None:
        result.note = "not run: no CIFAR-10 JPEG folder ($COURSE_DATA_DIR/cifar10/test)"
        return result

    def measure(result: Result) -> None:
        reference, expected = timed(lambda: reference_pass(images, batch_size))
        course, (features, targets, history) = timed(lambda: course_transfer(images, batch_size, head_epochs))
        check(features.shape == expected.shape, f"{tuple(features.shape)} features vs {tuple(expected.shape)}")
        check(torch.allclose(features, expected, atol=1e-5), "the cached features differ from the backbone's outputs")
        check(torch.equal(targets, images.targets), "the features are not of the same samples")
        check(len(history) == head_epochs, f"the head trained {len(history)} epochs")
        check_finite(history[-1]["train_loss"], "the head's loss")
        result.ratio = course / reference
        result.course = seconds(course)
        result.reference = seconds(reference)
        result.note = (
            f"{len(images):,} CIFAR-10 test images through ResNet-20 (64 features), batch {batch_size}; "
            f"head {features.size(1)}->512->{len(images.classes)} for {head_epochs} epochs of batch 64, "
            f"train loss {history[0]['train_loss']:.3f} -> {history[-1]['train_loss']:.3f}"
        )
        result.figures = {"images": len(images), "reference_seconds": reference, "course_seconds": course}

    return guarded(result, measure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=None, help="use this many of the 10,000 test images")
    args = parser.parse_args()
    result = run(limit=args.images)
    print(f"B3 ratio {result.ratio}, target {result.target_text}: {result.course} vs {result.reference}; {result.note}")


if __name__ == "__main__":
    main()
