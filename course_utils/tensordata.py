"""Small images decoded once into one uint8 tensor, and augmented a whole batch at a time.

Decoding a JPEG costs far more than a small network's step on it. For 32x32 CIFAR-10 (or any
dataset at a fixed training size) the course decodes every image once, keeps the pixels as one
``uint8`` tensor (50,000 CIFAR images: 150 MB), caches that tensor on disk between runs (the cache
is keyed by the files' paths, sizes and modification times, so it is rebuilt when they change),
and does the random crop, flip and normalisation on whole batches of tensors::

    train = cu.tensordata.decode_images(data.train, size=32)
    loader = cu.tensordata.batch_loader(train, 128, augment=cu.tensordata.BatchAugment(crop_padding=4, flip=True),
                                        mean=cu.transforms.CIFAR10_MEAN, std=cu.transforms.CIFAR10_STD, shuffle=True)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .atomic import atomic_path
from .images import load_rgb

MEMORY_LIMIT_BYTES = 2 * 1024**3
"""Refuse to decode more than this into memory (2 GiB); such datasets are read image by image instead."""


class TensorImages(Dataset):
    """Decoded images as one ``uint8`` tensor ``(N, 3, H, W)``, their labels and class names.

    ``dataset[i]`` is ``(uint8 image, label)``; :func:`batch_loader` turns batches into floats.
    ``transform`` is the :class:`BatchTransform` the loader applies (so checkpoints record its mean/std).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, classes: Sequence[str]) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W), not {images.dtype} {tuple(images.shape)}")
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} labels")
        self.images = images
        self.targets = targets.long()
        self.classes = list(classes)
        self.transform: BatchTransform | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]

    @property
    def nbytes(self) -> int:
        return self.images.numel()


def _cache_key(samples: Sequence[tuple[str, int]], size: int) -> str:
    digest = hashlib.sha256(f"v1 size={size}".encode())
    for path, label in samples:
        stat = os.stat(path)
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _decode(path: str, size: int) -> np.ndarray:
    image = load_rgb(path)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.array(image, dtype=np.uint8).transpose(2, 0, 1)


def decode_images(
    dataset, *, size: int, cache_dir: str | Path | None = None, progress: bool = True, workers: int | None = None
) -> TensorImages:
    """Decode every image of an :class:`~course_utils.datasets.ImageDataset` once, resized to ``size`` x ``size``.

    With ``cache_dir`` the tensor is saved there (atomically) and loaded instead of decoding next
    time, as long as no file changed. More than :data:`MEMORY_LIMIT_BYTES` is refused with a
    ``MemoryError`` that says to use the image-by-image loader instead.
    """
    samples = list(dataset.samples)
    needed = len(samples) * 3 * size * size
    if needed > MEMORY_LIMIT_BYTES:
        raise MemoryError(
            f"{len(samples)} images at {size}x{size} need {needed / 1024**3:.1f} GiB as uint8, over the "
            f"{MEMORY_LIMIT_BYTES / 1024**3:.0f} GiB limit: use the dataset's ordinary (image by image) loader"
        )
    cache_file = Path(cache_dir) / f"decoded-{size}px-{_cache_key(samples, size)}.pt" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        stored = torch.load(cache_file, weights_only=True)
        return TensorImages(stored["images"], stored["targets"], stored["classes"])
    images = torch.empty((len(samples), 3, size, size), dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        decoded = pool.map(lambda sample: _decode(sample[0], size), samples, chunksize=64)
        for index, array in enumerate(tqdm(decoded, total=len(samples), desc="decoding", unit="img", disable=not progress)):
            images[index] = torch.from_numpy(array)
    targets = torch.tensor([label for _, label in samples], dtype=torch.long)
    result = TensorImages(images, targets, dataset.classes)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file) as temporary:
            torch.save({"images": images, "targets": targets, "classes": list(dataset.classes)}, temporary)
    return result


@dataclass(frozen=True)
class BatchAugment:
    """Random crop after zero padding and random horizontal flip, drawn independently for every image of a batch."""

    crop_padding: int = 4
    flip: bool = True

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count, _, height, width = images.shape
        if self.crop_padding:
            pad = self.crop_padding
            padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
            top = torch.randint(0, 2 * pad + 1, (count,))
            left = torch.randint(0, 2 * pad + 1, (count,))
            rows = (top[:, None] + torch.arange(height))[:, None, :, None]
            cols = (left[:, None] + torch.arange(width))[:, None, None, :]
            batch = torch.arange(count)[:, None, None, None]
            channels = torch.arange(images.shape[1])[None, :, None, None]
            images = padded[batch, channels, rows, cols]
        if self.flip:
            flipped = torch.rand(count) < 0.5
            images = torch.where(flipped[:, None, None, None], images.flip(-1), images)
        return images


@dataclass(frozen=True)
class BatchTransform:
    """uint8 batch -> (augment) -> float in [0, 1] -> ``(x - mean) / std``; ``mean``/``std`` are read by plots and checkpoints."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: BatchAugment | None = None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.augment is not None:
            images = self.augment(images)
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        # channels_last: the memory layout convolutions run fastest in, on CPUs and GPUs alike
        return ((images.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)


def batch_loader(
    data: TensorImages,
    batch_size: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    augment: BatchAugment | None = None,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over decoded images whose batches are augmented and normalised as whole tensors.

    It works with :func:`~course_utils.fit` like any loader (shuffling from a seeded generator, so
    runs repeat and resume exactly); the random crops and flips come from torch's global RNG.
    """
    transform = BatchTransform(tuple(float(m) for m in mean), tuple(float(s) for s in std), augment)
    data.transform = transform

    def collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([image for image, _ in items])
        targets = torch.stack([target for _, target in items])
        return transform(images), targets

    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        data, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate, drop_last=drop_last
    )
