"""Small images decoded once into one uint8 tensor, and augmented a whole batch at a time.

Decoding a JPEG costs far more than a small network's step on it. For 32x32 CIFAR-10 (or any
dataset at a fixed training size) the course decodes every image once, keeps the pixels as one
``uint8`` tensor (50,000 CIFAR images: 150 MB), caches that tensor on disk between runs (the cache
is keyed by the files' paths, sizes and modification times, so it is rebuilt when they change),
and does the random crop, flip and normalisation on whole batches of tensors::

    train = cu.tensordata.decode_images(data.train, size=32)
    loader = cu.tensordata.batch_loader(train, 128, augment=cu.tensordata.BatchAugment(crop_padding=4, flip=True),
                                        mean=cu.transforms.CIFAR10_MEAN, std=cu.transforms.CIFAR10_STD, shuffle=True)

The memory it takes is stated when it is decoded and bounded by :data:`MEMORY_LIMIT_BYTES`; above
the bound :func:`image_loader` (the one call a notebook needs) decodes image by image every epoch
instead, says so, and feeds the same batched augmentation. ``device="cuda"`` augments on the GPU:
the uint8 batch (4x smaller than floats) is copied there first.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import session
from .atomic import atomic_path
from .images import load_rgb

MEMORY_LIMIT_BYTES = 2 * 1024**3
"""Refuse to decode more than this into memory (2 GiB); such datasets are read image by image instead."""
MiB = 1024**2


class DecodeLimitExceeded(MemoryError):
    """Decoding a dataset would take more memory than the limit allows (:func:`image_loader` then decodes per item)."""


def decoded_bytes(count: int, size: int) -> int:
    """Memory taken by ``count`` RGB images of ``size`` x ``size`` as ``uint8``: one byte per pixel and channel."""
    return count * 3 * size * size


class StackedSamples(Sequence):
    """One batch of ``(image, label)`` samples fetched with a single indexing operation.

    ``DataLoader`` asks a dataset with ``__getitems__`` for a whole batch at once; this is what
    :class:`TensorImages` answers. :func:`batch_loader` takes the stacked tensors as they are; any
    other collate function (``default_collate``) sees an ordinary sequence of samples.
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        self.images = images
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return self.images[index], self.targets[index]


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

    def __getitems__(self, indices: Sequence[int]) -> StackedSamples:
        """A whole batch in one indexing operation instead of one per image."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return StackedSamples(self.images[index.to(self.images.device)], self.targets[index.to(self.targets.device)])

    @property
    def nbytes(self) -> int:
        return self.images.numel()

    def to(self, device: str | torch.device) -> TensorImages:
        """The same images on ``device`` (e.g. the whole of CIFAR-10 on the GPU: batches never cross the bus)."""
        moved = TensorImages(self.images.to(device), self.targets.to(device), self.classes)
        moved.transform = self.transform
        return moved


class PerItemImages(Dataset):
    """The fallback above the memory limit: each image is decoded when asked for, as ``(uint8 image, label)``.

    Same items as :class:`TensorImages` (resized to ``size`` x ``size``), so :func:`batch_loader`
    augments and normalises them the same way; only the decoding is repeated every epoch.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str], size: int) -> None:
        self.samples = [(str(path), int(label)) for path, label in samples]
        self.targets = [label for _, label in self.samples]
        self.classes = list(classes)
        self.size = size
        self.transform: BatchTransform | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path, label = self.samples[index]
        return torch.from_numpy(_decode(path, self.size)), torch.tensor(label)


def _cache_key(samples: Sequence[tuple[str, int]], size: int) -> str:
    digest = hashlib.sha256(f"v1 size={size}".encode())
    for path, label in samples:
        stat = os.stat(path)
        digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _identity(samples: Sequence[tuple[str, int]], size: int) -> str:
    """Which files at which size (not their content): the caches of one dataset share it, so older ones can go."""
    digest = hashlib.sha256(f"size={size}".encode())
    for path, label in samples:
        digest.update(f"{path}\0{label}\n".encode())
    return digest.hexdigest()[:10]


def _decode(path: str, size: int) -> np.ndarray:
    image = load_rgb(path)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.array(image, dtype=np.uint8).transpose(2, 0, 1)


def _load_cache(cache_file: Path, count: int, size: int) -> TensorImages | None:
    """The cached tensor, or ``None`` when the file is unreadable or does not hold ``count`` images of ``size``."""
    try:
        stored = torch.load(cache_file, weights_only=True)
        images = stored["images"]
        if tuple(images.shape) != (count, 3, size, size):
            raise ValueError(f"holds {tuple(images.shape)}")
        return TensorImages(images, stored["targets"], stored["classes"])
    except Exception as error:  # a foreign, truncated or outdated file: decode again and replace it
        warnings.warn(f"ignoring the decoded-image cache {cache_file} ({error}); decoding again", stacklevel=3)
        return None


DECODE_CHUNK = 256
THREADED_DECODE_SECONDS = 250e-6
"""Seconds per image above which decoding is shared among threads. PIL releases the GIL while it decodes a large
JPEG, but a 32x32 one is mostly Python overhead, which threads only slow down. Measured on the 2-core CPU: the
50,000 CIFAR-10 JPEGs took 6.5 s serially, 9.2 s on 2 threads (0.13 ms each); 2,000 cats-vs-dogs photos at
128 px took 1.7 s serially, 0.8 s on 2 threads (0.8 ms each)."""


def decode_all(
    samples: Sequence[tuple[str, int]],
    size: int,
    decode_one: Callable[[str], Any] | None = None,
    *,
    workers: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Every sample's image as one ``(N, 3, size, size)`` uint8 tensor, decoded in chunks: serially when images
    are small, on ``workers`` threads when they are large (timed on the first chunk).

    ``decode_one(path)`` gives one image as a ``(3, size, size)`` uint8 array or tensor; the default resizes
    the whole photo to a square (as :func:`decode_images` does).
    """
    decode_one = decode_one or (lambda path: _decode(path, size))
    images = torch.empty((len(samples), 3, size, size), dtype=torch.uint8)
    pixels = images.numpy()  # the same memory; numpy's item assignment is the cheaper one per small image

    def decode_chunk(start: int) -> int:
        stop = min(start + DECODE_CHUNK, len(samples))
        for index in range(start, stop):
            pixels[index] = decode_one(samples[index][0])
        return stop - start

    starts = range(0, len(samples), DECODE_CHUNK)
    with tqdm(total=len(samples), desc="decoding", unit="img", disable=not progress) as bar:
        if not starts:
            return images
        began = time.perf_counter()
        bar.update(decode_chunk(0))  # timed, to choose how to decode the rest
        per_image = (time.perf_counter() - began) / min(DECODE_CHUNK, len(samples))
        threads = workers or min(8, os.cpu_count() or 1)
        if threads > 1 and per_image > THREADED_DECODE_SECONDS:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                for count in pool.map(decode_chunk, starts[1:]):
                    bar.update(count)
        else:
            for start in starts[1:]:
                bar.update(decode_chunk(start))
    return images


def decode_images(
    dataset,
    *,
    size: int,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int | None = None,
    memory_limit: int | None = None,
) -> TensorImages:
    """Decode every image of an :class:`~course_utils.datasets.ImageDataset` once, resized to ``size`` x ``size``.

    With ``cache_dir`` the tensor is saved there (atomically) and loaded instead of decoding next
    time, as long as no file changed (paths, sizes and modification times are compared); a changed
    dataset replaces its older cache file. More than ``memory_limit`` bytes (default
    :data:`MEMORY_LIMIT_BYTES`) is refused with :class:`DecodeLimitExceeded` (a ``MemoryError``)
    that says to use the image-by-image loader instead. ``progress`` shows a bar and one line
    stating the memory taken and where the cache is. ``workers``: threads that decode large images
    (default one per core, at most 8; small images are decoded serially, which is faster).
    """
    samples = list(dataset.samples)
    limit = MEMORY_LIMIT_BYTES if memory_limit is None else memory_limit
    needed = decoded_bytes(len(samples), size)
    if needed > limit:
        raise DecodeLimitExceeded(
            f"{len(samples)} images at {size}x{size} need {needed / MiB:,.0f} MiB as uint8, over the "
            f"{limit / MiB:,.0f} MiB limit: use the dataset's ordinary (image by image) loader, "
            "or image_loader(), which falls back to it by itself"
        )
    say = print if progress else (lambda text: None)
    stated = f"{len(samples):,} images at {size}x{size}: {needed / MiB:,.1f} MiB of uint8 (limit {limit / MiB:,.0f} MiB)"
    cache_file = old_cache_file = None
    if cache_dir is not None:
        key, identity = _cache_key(samples, size), _identity(samples, size)
        cache_file = Path(cache_dir) / f"decoded-{size}px-{identity}-{key}.pt"
        old_cache_file = Path(cache_dir) / f"decoded-{size}px-{key}.pt"  # the first release's name, still valid
        for candidate in (cache_file, old_cache_file):
            cached = _load_cache(candidate, len(samples), size) if candidate.is_file() else None
            if cached is not None:
                say(f"decoded images: {stated}, loaded from {candidate}")
                return cached
    images = decode_all(samples, size, workers=workers, progress=progress)
    targets = torch.tensor([label for _, label in samples], dtype=torch.long)
    result = TensorImages(images, targets, dataset.classes)
    if cache_file is None:
        say(f"decoded images: {stated}, not cached (no cache_dir)")
        return result
    with atomic_path(cache_file) as temporary:
        torch.save({"images": images, "targets": targets, "classes": list(dataset.classes)}, temporary)
    for outdated in cache_file.parent.glob(f"decoded-{size}px-{identity}-*.pt"):  # the same files before they changed
        if outdated != cache_file:
            outdated.unlink(missing_ok=True)
    say(f"decoded images: {stated}, cached in {cache_file}")
    return result


@dataclass(frozen=True)
class BatchAugment:
    """Random crop after zero padding and random horizontal flip, drawn independently for every image of a batch.

    The random numbers are drawn on the CPU (torch's global generator) whatever device the batch is
    on, so a run draws the same crops and flips with or without a GPU, and resumes exactly.
    """

    crop_padding: int = 4
    flip: bool = True

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count, _, height, width = images.shape
        device = images.device
        if self.crop_padding:
            pad = self.crop_padding
            padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))
            top = torch.randint(0, 2 * pad + 1, (count,)).to(device)
            left = torch.randint(0, 2 * pad + 1, (count,)).to(device)
            rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
            cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]
            batch = torch.arange(count, device=device)[:, None, None, None]
            channels = torch.arange(images.shape[1], device=device)[None, :, None, None]
            images = padded[batch, channels, rows, cols]
        if self.flip:
            flipped = (torch.rand(count) < 0.5).to(device)
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
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        # channels_last: the memory layout convolutions run fastest in, on CPUs and GPUs alike
        return ((images.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)


class BatchCollate:
    """A DataLoader's ``collate_fn``: stack a batch of uint8 images (or take it stacked), move it to
    ``device`` when given, then apply ``transform`` to the whole batch there."""

    def __init__(self, transform: BatchTransform, device: torch.device | None = None) -> None:
        self.transform = transform
        self.device = device

    def __call__(self, items: Sequence[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(items, StackedSamples):
            images, targets = items.images, items.targets
        else:
            images = torch.stack([image for image, _ in items])
            targets = torch.stack([torch.as_tensor(target) for _, target in items])
        if self.device is not None:
            images = images.to(self.device, non_blocking=True)
            targets = targets.to(self.device, non_blocking=True)
        return self.transform(images), targets


def batch_loader(
    data: TensorImages | PerItemImages,
    batch_size: int,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    augment: BatchAugment | None = None,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader over decoded images whose batches are augmented and normalised as whole tensors.

    It works with :func:`~course_utils.fit` like any loader (shuffling from a seeded generator, so
    runs repeat and resume exactly); the random crops and flips come from torch's global RNG.
    ``device``: copy each uint8 batch there before augmenting (e.g. ``"cuda"``: the GPU does the
    crops, flips and normalisation; ``"cuda"`` without an index is the current GPU, each process's
    own under torchrun); it needs ``num_workers=0``, which decoded tensors do not need anyway.
    ``num_workers``: processes that decode :class:`PerItemImages` in parallel.
    """
    device = torch.device(device) if device is not None else None
    if device is not None and device.type != "cpu" and num_workers > 0:
        raise ValueError(f"batches are moved to {device} in the main process: use num_workers=0 with device=")
    transform = BatchTransform(tuple(float(m) for m in mean), tuple(float(s) for s in std), augment)
    data.transform = transform
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        data, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=BatchCollate(transform, device),
        drop_last=drop_last, num_workers=num_workers, persistent_workers=num_workers > 0, pin_memory=pin_memory,
    )  # fmt: skip


def image_loader(
    dataset,
    batch_size: int,
    *,
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    augment: BatchAugment | None = None,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
    cache_dir: str | Path | None = None,
    memory_limit: int | None = None,
    device: str | torch.device | None = "auto",
    num_workers: int | None = None,
    progress: bool = True,
) -> DataLoader:
    """The course's loader for an image dataset at a fixed ``size``: decoded once when it fits, else per item.

    Within ``memory_limit`` (default :data:`MEMORY_LIMIT_BYTES`) the images are decoded once
    (:func:`decode_images`, cached in ``cache_dir``, by default ``<setup()'s cache>/decoded``);
    above it they are decoded image by image every epoch (:class:`PerItemImages`, ``num_workers``
    processes, by default the profile's) and it says so. Either way the batches are augmented and
    normalised as whole tensors by :func:`batch_loader`, with the same options. ``device="auto"``
    augments decoded images on the GPU when ``setup()`` chose one (else where they are), per-item
    images in the worker processes.
    """
    course = session.current()
    if cache_dir is None and course is not None:
        cache_dir = course.cache_dir / "decoded"
    options = dict(mean=mean, std=std, augment=augment, shuffle=shuffle, seed=seed, drop_last=drop_last)
    gpu = course.device.type == "cuda" if course is not None else torch.cuda.is_available()
    try:
        decoded = decode_images(dataset, size=size, cache_dir=cache_dir, progress=progress, memory_limit=memory_limit)
    except DecodeLimitExceeded as error:
        workers = num_workers if num_workers is not None else (course.profile.num_workers if course else 0)
        if progress:
            print(f"not decoding into memory: {error}.\nDecoding image by image every epoch instead ({workers} workers).")
        fallback = PerItemImages(dataset.samples, dataset.classes, size)
        if device == "auto" or device is None or torch.device(device).type == "cpu":  # augment in the workers
            return batch_loader(fallback, batch_size, **options, num_workers=workers, pin_memory=gpu)
        return batch_loader(fallback, batch_size, **options, device=device)
    if device == "auto":
        device = "cuda" if gpu else None  # the current GPU: each process's own under torchrun
    return batch_loader(decoded, batch_size, **options, device=device, num_workers=num_workers or 0)
