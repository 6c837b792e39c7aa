"""Transform presets, their normalisation statistics, and the CIFAR-10 statistics themselves."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torchvision import transforms as v1
from torchvision.transforms import v2

from course_utils.transforms import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    basic_transforms,
    cifar_transforms,
    imagenet_transforms,
    normalization_of,
    preset_transforms,
)

from conftest import SHARED_DATA
SHARED_CIFAR = SHARED_DATA / "cifar10" / "train"


def solid(colour: tuple[float, float, float], size: tuple[int, int]) -> Image.Image:
    return Image.new("RGB", size, tuple(round(c * 255) for c in colour))


def test_constants() -> None:
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    assert CIFAR10_MEAN == (0.4914, 0.4822, 0.4465) and CIFAR10_STD == (0.2470, 0.2435, 0.2616)


@pytest.mark.parametrize("train", [True, False])
def test_cifar_transforms_normalise_with_cifar_statistics(train: bool) -> None:
    transform = cifar_transforms(train=train)
    out = transform(solid(CIFAR10_MEAN, (32, 32)))
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    centre = out[:, 8:24, 8:24]  # away from the zero padding of the random crop
    assert centre.abs().max() < 0.02  # the mean colour maps to ~0
    white = transform(solid((1.0, 1.0, 1.0), (32, 32)))[:, 8:24, 8:24]
    expected = (1 - torch.tensor(CIFAR10_MEAN)) / torch.tensor(CIFAR10_STD)
    assert torch.allclose(white.mean(dim=(1, 2)), expected, atol=1e-3)


def test_imagenet_transforms_shapes_and_randomness() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    evaluate = imagenet_transforms(224, train=False)
    assert evaluate(image).shape == (3, 224, 224)
    assert torch.equal(evaluate(image), evaluate(image))  # evaluation is deterministic
    train = imagenet_transforms(160, train=True)
    torch.manual_seed(0)
    first, second = train(image), train(image)
    assert first.shape == second.shape == (3, 160, 160) and not torch.equal(first, second)
    centre = evaluate(solid(IMAGENET_MEAN, (300, 260)))
    assert centre.abs().max() < 0.02


def test_basic_transforms() -> None:
    image = solid((0.5, 0.25, 1.0), (50, 40))
    plain = basic_transforms(32)(image)
    assert plain.shape == (3, 32, 32) and torch.allclose(plain[:, 0, 0], torch.tensor([0.5, 0.25, 1.0]), atol=0.01)
    assert basic_transforms((28, 36), mean=(0.5,) * 3, std=(0.5,) * 3, train=True)(image).shape == (3, 28, 36)
    with pytest.raises(ValueError, match="both"):
        basic_transforms(32, mean=(0.5,) * 3)


def test_normalization_of() -> None:
    assert normalization_of(cifar_transforms(train=True)) == (CIFAR10_MEAN, CIFAR10_STD)
    assert normalization_of(imagenet_transforms(train=False)) == (IMAGENET_MEAN, IMAGENET_STD)
    assert normalization_of(basic_transforms(32)) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert normalization_of(None) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    handmade = v2.Compose([v2.ToImage(), v2.Compose([v2.Normalize([0.1, 0.2, 0.3], [0.4, 0.5, 0.6])])])
    assert normalization_of(handmade) == ((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    classic = v1.Compose([v1.ToTensor(), v1.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))])
    assert normalization_of(classic) == ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def test_normalization_of_a_pretrained_weights_preset() -> None:
    """Transfer learning uses ``weights.transforms()``: an ImageClassification preset with mean/std, not a Normalize."""
    preset = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()  # builds the preset, downloads nothing
    assert normalization_of(preset) == (IMAGENET_MEAN, IMAGENET_STD)


def test_normalization_of_reads_a_dataset_or_loader() -> None:
    images = torch.rand(4, 3, 8, 8)

    class Transformed(torch.utils.data.Dataset):
        transform = cifar_transforms(train=False)

        def __len__(self) -> int:
            return len(images)

        def __getitem__(self, index: int) -> torch.Tensor:
            return images[index]

    dataset = Transformed()
    assert normalization_of(dataset) == (CIFAR10_MEAN, CIFAR10_STD)
    assert normalization_of(torch.utils.data.Subset(dataset, [0, 1])) == (CIFAR10_MEAN, CIFAR10_STD)
    assert normalization_of(torch.utils.data.DataLoader(dataset, batch_size=2)) == (CIFAR10_MEAN, CIFAR10_STD)
    assert normalization_of(torch.utils.data.TensorDataset(images)) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def test_preset_by_name() -> None:
    assert preset_transforms("imagenet", train=False, size=64)(solid((0, 0, 0), (80, 80))).shape == (3, 64, 64)
    with pytest.raises(ValueError, match="unknown transform preset"):
        preset_transforms("mnist", train=False)


@pytest.mark.skipif(not SHARED_CIFAR.is_dir(), reason="the shared CIFAR-10 copy is not on this machine")
def test_cifar_statistics_match_the_real_training_set() -> None:
    """On every 25th training image (2,000 JPEGs): JPEG shifts the statistics by < 0.005."""
    files = [
        SHARED_CIFAR / c / f
        for c in sorted(os.listdir(SHARED_CIFAR))
        for f in sorted(os.listdir(SHARED_CIFAR / c))[::25]
    ]
    pixels = np.concatenate([np.asarray(Image.open(f).convert("RGB")).reshape(-1, 3) for f in files]) / 255.0
    assert pixels.mean(axis=0) == pytest.approx(CIFAR10_MEAN, abs=0.01)
    assert pixels.std(axis=0) == pytest.approx(CIFAR10_STD, abs=0.01)
    assert np.all(np.abs(pixels.std(axis=0) - np.array([0.2023, 0.1994, 0.2010])) > 0.03)  # not the copied values
