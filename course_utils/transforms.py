"""Transform presets (torchvision.transforms.v2) and the normalisation statistics they use.

Every preset is a ``v2.Compose`` ending in ``Normalize`` (when it normalises), so a plot can undo
it: ``mean, std = normalization_of(transform)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision import transforms as v1
from torchvision.transforms import v2

Stats = tuple[float, ...]

IMAGENET_MEAN: Stats = (0.485, 0.456, 0.406)
IMAGENET_STD: Stats = (0.229, 0.224, 0.225)
CIFAR10_MEAN: Stats = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: Stats = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of the CIFAR-10 training pixels (not the often-copied
(0.2023, 0.1994, 0.2010), which is the mean of per-image standard deviations)."""
IDENTITY_MEAN: Stats = (0.0, 0.0, 0.0)
IDENTITY_STD: Stats = (1.0, 1.0, 1.0)


def _compose(steps: list, mean: Sequence[float] | None, std: Sequence[float] | None) -> v2.Compose:
    """PIL steps, then a float tensor in [0, 1], then ``Normalize(mean, std)`` when given."""
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    steps = [*steps, v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    if mean is not None:
        steps.append(v2.Normalize(mean=list(mean), std=list(std)))
    return v2.Compose(steps)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def basic_transforms(
    size: int | Sequence[int],
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    train: bool = False,
) -> v2.Compose:
    """Resize to ``size`` (an int means a square), a random horizontal flip when ``train``, to tensor,
    and normalise when ``mean``/``std`` are given: for LeNet/AlexNet trained from scratch."""
    steps: list = [v2.Resize(_pair(size), antialias=True)]
    if train:
        steps.append(v2.RandomHorizontalFlip())
    return _compose(steps, mean, std)


def imagenet_transforms(size: int = 224, *, train: bool = False) -> v2.Compose:
    """For ImageNet-pretrained backbones: RandomResizedCrop + flip for training, Resize + CenterCrop
    (resize to ``size * 8/7``, i.e. 256 for 224) for evaluation; ImageNet statistics."""
    if train:
        steps: list = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize(round(size * 8 / 7), antialias=True), v2.CenterCrop(size)]
    return _compose(steps, IMAGENET_MEAN, IMAGENET_STD)


def cifar_transforms(*, train: bool = False) -> v2.Compose:
    """32x32 CIFAR-10: random 4-pixel-padded crop + flip for training; CIFAR-10 statistics."""
    steps: list = [v2.Resize((32, 32), antialias=True)]
    if train:
        steps += [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]
    return _compose(steps, CIFAR10_MEAN, CIFAR10_STD)


PRESETS = {"basic": basic_transforms, "imagenet": imagenet_transforms, "cifar": cifar_transforms}


def preset_transforms(preset: str, *, train: bool, **options) -> v2.Compose:
    """A preset by name (``"basic"``, ``"imagenet"`` or ``"cifar"``), e.g. from the dataset registry."""
    try:
        return PRESETS[preset](train=train, **options)
    except KeyError:
        raise ValueError(f"unknown transform preset {preset!r}; choose one of {sorted(PRESETS)}") from None


def normalization_of(transform) -> tuple[Stats, Stats]:
    """``(mean, std)`` that ``transform`` normalises with; identity ``((0,0,0), (1,1,1))`` when none.

    Understands any (nested) v1/v2 ``Compose`` and ``Normalize``, a pretrained weights' preset
    (``weights.transforms()``, which carries ``mean``/``std``), and a dataset, ``Subset`` or
    ``DataLoader``, whose transform it reads: ``normalization_of(data.test)``.
    """
    while not callable(transform) and (hasattr(transform, "transform") or hasattr(transform, "dataset")):
        transform = getattr(transform, "transform", None) if hasattr(transform, "transform") else transform.dataset
    if transform is None:
        return IDENTITY_MEAN, IDENTITY_STD
    mean, std = getattr(transform, "mean", None), getattr(transform, "std", None)
    if isinstance(transform, (v1.Normalize, v2.Normalize)) or (_numbers(mean) and _numbers(std)):
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)
    for step in reversed(getattr(transform, "transforms", [])):
        found = normalization_of(step)
        if found != (IDENTITY_MEAN, IDENTITY_STD):
            return found
    return IDENTITY_MEAN, IDENTITY_STD


def _numbers(values) -> bool:
    return isinstance(values, Sequence) and len(values) > 0 and all(isinstance(v, (int, float)) for v in values)
