"""tensordata: decode once (equal to PIL), a disk cache that notices changed files, a memory bound with a
per-item fallback, batched augmentation drawn per image, and loaders that work with fit (exact resume)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from conftest import SHARED_DATA
from course_utils import session, tensordata
from course_utils.checkpoints import load_checkpoint
from course_utils.datasets import ImageDataset
from course_utils.images import load_rgb
from course_utils.profiles import get_profile
from course_utils.tensordata import (
    BatchAugment,
    DecodeLimitExceeded,
    PerItemImages,
    StackedSamples,
    TensorImages,
    batch_loader,
    decode_images,
    image_loader,
)
from course_utils.training import fit

MEAN, STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.fixture(autouse=True)
def no_course_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", None)


def write_images(folder: Path, per_class: int = 6, classes: tuple[str, ...] = ("a", "b"), seed: int = 0) -> ImageDataset:
    """Small PNGs of assorted sizes and modes (RGB, grayscale, RGBA), one folder per class."""
    rng = np.random.default_rng(seed)
    samples = []
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            height, width = int(rng.integers(10, 40)), int(rng.integers(10, 40))
            mode = ("RGB", "L", "RGBA")[number % 3]
            channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
            pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8).squeeze(-1 if channels == 1 else None)
            path = folder / name / f"{number:03d}.png"
            Image.fromarray(pixels, mode).save(path)
            samples.append((str(path), label))
    return ImageDataset(samples, list(classes))


def pil_reference(path: str, size: int) -> torch.Tensor:
    image = load_rgb(path)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)


# --------------------------------------------------------------------------- decoding once


@pytest.mark.parametrize("size", [16, 32])
def test_decoded_tensor_equals_pil_decoding_of_the_same_files(tmp_path: Path, size: int) -> None:
    dataset = write_images(tmp_path)
    decoded = decode_images(dataset, size=size, progress=False, workers=2)

    assert decoded.images.shape == (len(dataset), 3, size, size) and decoded.images.dtype == torch.uint8
    assert decoded.targets.tolist() == dataset.targets and decoded.classes == dataset.classes
    for index, (path, _) in enumerate(dataset.samples):
        assert torch.equal(decoded.images[index], pil_reference(path, size)), path


@pytest.mark.parametrize("threaded", [False, True])
def test_serial_and_threaded_decoding_fill_every_image_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    dataset = write_images(tmp_path)
    monkeypatch.setattr(tensordata, "DECODE_CHUNK", 5)  # several chunks, the last one short
    monkeypatch.setattr(tensordata, "THREADED_DECODE_SECONDS", 0.0 if threaded else float("inf"))
    calls = []
    decode = tensordata._decode
    monkeypatch.setattr(tensordata, "_decode", lambda path, size: calls.append(path) or decode(path, size))
    decoded = decode_images(dataset, size=16, progress=False, workers=2)
    assert len(dataset) % 5 != 0 and sorted(calls) == sorted(path for path, _ in dataset.samples)  # each file once
    for index, (path, _) in enumerate(dataset.samples):
        assert torch.equal(decoded.images[index], pil_reference(path, 16)), path


@pytest.mark.skipif(not (SHARED_DATA / "cifar10").is_dir(), reason="the shared CIFAR-10 copy is not here")
def test_decoded_cifar_jpegs_equal_pil_and_the_lecture_tensors() -> None:
    classes = ["airplane", "cat", "truck"]
    samples = [
        (str(path), label)
        for label, name in enumerate(classes)
        for path in sorted((SHARED_DATA / "cifar10" / "train" / name).iterdir())[:10]
    ]
    dataset = ImageDataset(samples, classes)
    decoded = decode_images(dataset, size=32, progress=False)
    lecture = torch.stack([dataset[index][0] for index in range(len(dataset))])  # PIL + ToTensor, as the lecture does
    assert torch.equal(decoded.images, (lecture * 255).round().to(torch.uint8))
    for index, (path, _) in enumerate(samples):
        assert torch.equal(decoded.images[index], pil_reference(path, 32))


def test_cache_is_reused_and_rebuilt_when_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    dataset = write_images(tmp_path / "images")
    cache = tmp_path / "cache"
    first = decode_images(dataset, size=16, cache_dir=cache)
    assert "cached in" in capsys.readouterr().out
    assert len(list(cache.glob("decoded-16px-*.pt"))) == 1

    def no_decoding(path: str, size: int):
        raise AssertionError("decoded again although the cache is valid")

    with monkeypatch.context() as patch:
        patch.setattr(tensordata, "_decode", no_decoding)
        again = decode_images(dataset, size=16, cache_dir=cache)
    out = capsys.readouterr().out
    assert "loaded from" in out and "MiB" in out  # the memory it takes is stated
    assert torch.equal(again.images, first.images) and torch.equal(again.targets, first.targets)

    changed = dataset.samples[3][0]
    Image.new("RGB", (16, 16), (7, 8, 9)).save(changed)
    stat = os.stat(changed)
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rebuilt = decode_images(dataset, size=16, cache_dir=cache, progress=False)
    assert rebuilt.images[3].flatten(1).unique(dim=1).tolist() == [[7], [8], [9]]
    assert torch.equal(rebuilt.images[:3], first.images[:3])
    assert len(list(cache.glob("decoded-16px-*.pt"))) == 1  # the outdated cache file was replaced, not kept


def test_first_release_cache_files_are_still_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = write_images(tmp_path / "images")
    cache = tmp_path / "cache"
    decoded = decode_images(dataset, size=16, cache_dir=cache, progress=False)
    (written,) = cache.glob("decoded-16px-*.pt")
    old_name = cache / f"decoded-16px-{tensordata._cache_key(dataset.samples, 16)}.pt"  # before the dataset identity
    written.rename(old_name)
    monkeypatch.setattr(tensordata, "_decode", lambda path, size: pytest.fail("decoded again"))
    assert torch.equal(decode_images(dataset, size=16, cache_dir=cache, progress=False).images, decoded.images)


def test_an_unreadable_cache_file_is_decoded_again(tmp_path: Path) -> None:
    dataset = write_images(tmp_path / "images")
    cache = tmp_path / "cache"
    decoded = decode_images(dataset, size=16, cache_dir=cache, progress=False)
    (written,) = cache.glob("decoded-16px-*.pt")
    written.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="decoding again"):
        again = decode_images(dataset, size=16, cache_dir=cache, progress=False)
    assert torch.equal(again.images, decoded.images)
    assert torch.load(written, weights_only=True)["images"].shape == decoded.images.shape  # repaired


def test_memory_bound_refuses_with_a_clear_error(tmp_path: Path) -> None:
    dataset = write_images(tmp_path)  # 12 images at 256 px: 2.25 MiB
    with pytest.raises(DecodeLimitExceeded, match=r"12 images at 256x256 need 2 MiB .* over the 1 MiB limit.*image by image"):
        decode_images(dataset, size=256, memory_limit=1024**2, progress=False)
    assert issubclass(DecodeLimitExceeded, MemoryError)
    default_limit_images = tensordata.MEMORY_LIMIT_BYTES // tensordata.decoded_bytes(1, 256)
    assert default_limit_images == 10922  # cats vs dogs at 256 px: ~10,900 photos fit in the default 2 GiB


def test_image_loader_falls_back_to_per_item_decoding_above_the_bound_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    dataset = write_images(tmp_path)
    options = dict(size=16, mean=MEAN, std=STD, augment=BatchAugment(crop_padding=2), shuffle=True, seed=3)
    in_memory = image_loader(dataset, 5, **options)
    assert isinstance(in_memory.dataset, TensorImages)
    assert "decoded images: 12 images at 16x16" in capsys.readouterr().out

    per_item = image_loader(dataset, 5, **options, memory_limit=1000, num_workers=0)
    out = capsys.readouterr().out
    assert isinstance(per_item.dataset, PerItemImages)
    assert "over the 0 MiB limit" in out and "Decoding image by image every epoch instead" in out

    torch.manual_seed(0)
    fast = list(in_memory)
    torch.manual_seed(0)
    slow = list(per_item)
    assert len(fast) == len(slow) == 3
    for (fast_images, fast_labels), (slow_images, slow_labels) in zip(fast, slow):
        assert torch.equal(fast_images, slow_images) and torch.equal(fast_labels, slow_labels)


def course_on(device: str, tmp_path: Path) -> session.Course:
    return session.Course(
        seed=0, device=torch.device(device), profile=get_profile("quick"), data_dir=None,
        cache_dir=tmp_path / "cache", download_dir=tmp_path / "downloads", checkpoint_dir=tmp_path / "checkpoints",
        on_colab=False, drive_mounted=False,
    )  # fmt: skip


def test_image_loader_caches_in_setups_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", course_on("cpu", tmp_path))
    loader = image_loader(write_images(tmp_path / "images"), 4, size=8, mean=MEAN, std=STD, progress=False)
    assert len(list((tmp_path / "cache" / "decoded").glob("decoded-8px-*.pt"))) == 1
    assert loader.collate_fn.device is None and next(iter(loader))[0].device.type == "cpu"


def test_image_loader_augments_on_setups_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "_current", course_on("cuda", tmp_path))
    dataset = write_images(tmp_path / "images")
    decoded = image_loader(dataset, 4, size=8, mean=MEAN, std=STD, progress=False)
    assert decoded.collate_fn.device == torch.device("cuda") and decoded.num_workers == 0  # the current GPU
    per_item = image_loader(dataset, 4, size=8, mean=MEAN, std=STD, progress=False, memory_limit=10)
    assert per_item.collate_fn.device is None and per_item.pin_memory  # decoded and augmented in the workers
    assert per_item.num_workers == get_profile("quick").num_workers


# --------------------------------------------------------------------------- batched augmentation


def expected_augmentation(images: torch.Tensor, padding: int) -> torch.Tensor:
    """The documented draws, one image at a time by slicing: tops, then lefts, then flips (torch's global RNG)."""
    count, _, height, width = images.shape
    tops = torch.randint(0, 2 * padding + 1, (count,))
    lefts = torch.randint(0, 2 * padding + 1, (count,))
    flips = torch.rand(count) < 0.5
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    crops = [padded[i, :, tops[i] : tops[i] + height, lefts[i] : lefts[i] + width] for i in range(count)]
    return torch.stack([crop.flip(-1) if flip else crop for crop, flip in zip(crops, flips)])


def test_batch_augment_draws_a_crop_and_flip_per_image_and_repeats_under_a_seed() -> None:
    image = torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8)
    batch = image.expand(64, -1, -1, -1).clone()
    augment = BatchAugment(crop_padding=4, flip=True)

    torch.manual_seed(5)
    augmented = augment(batch)
    assert augmented.shape == batch.shape and augmented.dtype == torch.uint8
    assert len({tuple(picture.flatten().tolist()) for picture in augmented}) > 20  # one draw per image, not per batch
    torch.manual_seed(5)
    assert torch.equal(augment(batch), augmented)
    torch.manual_seed(5)
    assert torch.equal(expected_augmentation(batch, 4), augmented)

    assert torch.equal(BatchAugment(crop_padding=0, flip=False)(batch), batch)
    flipped_only = BatchAugment(crop_padding=0, flip=True)(batch)
    assert {bool(torch.equal(p, image)) or bool(torch.equal(p, image.flip(-1))) for p in flipped_only} == {True}


def test_batch_loader_normalises_in_channels_last_and_records_its_transform() -> None:
    images = torch.randint(0, 256, (10, 3, 6, 6), dtype=torch.uint8)
    data = TensorImages(images, torch.arange(10) % 2, ["even", "odd"])
    loader = batch_loader(data, 4, mean=MEAN, std=STD)
    batch, labels = next(iter(loader))
    expected = (images[:4].float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.allclose(batch, expected) and batch.is_contiguous(memory_format=torch.channels_last)
    assert labels.tolist() == [0, 1, 0, 1]
    assert data.transform.mean == MEAN and data.transform.std == STD
    assert [len(labels) for _, labels in loader] == [4, 4, 2]
    assert [len(labels) for _, labels in batch_loader(data, 4, mean=MEAN, std=STD, drop_last=True)] == [4, 4]


def test_batches_are_fetched_in_one_indexing_operation_and_still_look_like_samples() -> None:
    images = torch.randint(0, 256, (9, 3, 4, 4), dtype=torch.uint8)
    data = TensorImages(images, torch.arange(9), [str(i) for i in range(9)])
    fetched = data.__getitems__([4, 0, 7])
    assert isinstance(fetched, StackedSamples) and len(fetched) == 3
    assert torch.equal(fetched.images, images[[4, 0, 7]]) and fetched[1][1].item() == 0

    plain = DataLoader(data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1))
    per_item = DataLoader(list(zip(images, data.targets)), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1))
    for (a_images, a_labels), (b_images, b_labels) in zip(plain, per_item, strict=True):  # default_collate
        assert torch.equal(a_images, b_images) and torch.equal(a_labels, b_labels)


def test_batch_loader_augments_with_the_same_draws_as_before_and_on_a_given_device() -> None:
    images = torch.randint(0, 256, (12, 3, 8, 8), dtype=torch.uint8)
    data = TensorImages(images, torch.arange(12) % 3, ["a", "b", "c"])
    options = dict(mean=MEAN, std=STD, augment=BatchAugment(crop_padding=2), shuffle=True, seed=4)
    torch.manual_seed(1)
    batches = list(batch_loader(data, 5, **options))
    torch.manual_seed(1)
    on_cpu = list(batch_loader(data, 5, **options, device="cpu"))

    shuffler = torch.Generator().manual_seed(4)
    torch.empty((), dtype=torch.int64).random_(generator=shuffler)  # the DataLoader draws its base seed first
    order = torch.randperm(12, generator=shuffler)
    torch.manual_seed(1)
    for start, (batch, labels), (same, _) in zip(range(0, 12, 5), batches, on_cpu, strict=True):
        picked = order[start : start + 5]
        expected = expected_augmentation(images[picked], 2)
        normalised = (expected.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        assert torch.equal(batch, normalised) and torch.equal(same, batch)
        assert torch.equal(labels, data.targets[picked])

    with pytest.raises(ValueError, match="num_workers=0"):
        batch_loader(data, 5, mean=MEAN, std=STD, device="cuda", num_workers=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_augmenting_on_the_gpu_draws_what_the_cpu_draws() -> None:
    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    data = TensorImages(images, torch.arange(32) % 2, ["a", "b"])
    options = dict(mean=MEAN, std=STD, augment=BatchAugment(crop_padding=4), shuffle=True, seed=0)
    torch.manual_seed(0)
    on_cpu = list(batch_loader(data, 8, **options))
    torch.manual_seed(0)
    on_gpu = list(batch_loader(data, 8, **options, device="cuda"))
    torch.manual_seed(0)
    whole_set_on_gpu = list(batch_loader(data.to("cuda"), 8, **options))
    for (cpu, labels), (gpu, gpu_labels), (resident, _) in zip(on_cpu, on_gpu, whole_set_on_gpu, strict=True):
        assert gpu.device.type == "cuda" and resident.device.type == "cuda"
        assert torch.allclose(gpu.cpu(), cpu) and torch.allclose(resident.cpu(), cpu)
        assert torch.equal(gpu_labels.cpu(), labels)


# --------------------------------------------------------------------------- with fit


def tiny_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 2))


def stripes(count: int = 48, seed: int = 0) -> TensorImages:
    """Two classes a small CNN separates: bright rows on top, or bright rows at the bottom."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 100, (count, 3, 8, 8), generator=generator, dtype=torch.uint8)
    labels = torch.arange(count) % 2
    images[labels == 0, :, :3] += 150
    images[labels == 1, :, 5:] += 150
    return TensorImages(images, labels, ["top", "bottom"])


def train(model: nn.Module, epochs: int, checkpoint: Path):
    loader = batch_loader(stripes(), 8, mean=MEAN, std=STD, augment=BatchAugment(crop_padding=1), shuffle=True, seed=2)
    val = batch_loader(stripes(seed=1), 16, mean=MEAN, std=STD)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, loader, val, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
               checkpoint=checkpoint, device="cpu", progress=False)  # fmt: skip


def test_batch_loader_trains_with_fit_and_resumes_exactly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference_model = tiny_cnn(seed=0)
    reference = train(reference_model, 4, tmp_path / "reference.pt")
    assert reference[-1]["train_loss"] < reference[0]["train_loss"]

    train(tiny_cnn(seed=0), 2, tmp_path / "interrupted.pt")
    torch.manual_seed(99)  # another session: other random state, other initial weights
    resumed_model = tiny_cnn(seed=7)
    resumed = train(resumed_model, 4, tmp_path / "interrupted.pt")

    def without_seconds(history):
        return [{key: value for key, value in record.items() if key != "seconds"} for record in history]

    assert without_seconds(resumed) == without_seconds(reference)
    for (name, a), (_, b) in zip(resumed_model.state_dict().items(), reference_model.state_dict().items()):
        assert torch.equal(a, b), name
    metadata = load_checkpoint(tmp_path / "reference.pt")["metadata"]
    assert metadata["classes"] == ["top", "bottom"] and metadata["input_size"] == [3, 8, 8]
    assert metadata["mean"] == list(MEAN) and metadata["std"] == list(STD)


def test_tensor_images_move_with_their_transform() -> None:
    data = stripes()
    batch_loader(data, 8, mean=MEAN, std=STD)
    moved = data.to("cpu")
    assert moved.transform is data.transform and torch.equal(moved.images, data.images) and moved.classes == data.classes
    assert torch.equal(moved.targets, data.targets) and len(moved) == len(data)
