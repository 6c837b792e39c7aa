"""The course's datasets: find real images, screen them, split them, and hand out torch datasets.

``load_dataset("cats_dogs")`` looks in ``COURSE_DATA_DIR/cats_dogs``, then in the cache
(``course.cache_dir/cats_dogs``, a local disk), then unpacks the archive kept in
``course.download_dir`` (Google Drive on Colab) or downloads it there first from the sources listed
in ``data/registry.json``. When none of that works it raises :class:`DatasetUnavailable` saying what
to do; only the quick profile falls back to generated stand-in images (and says so loudly).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from . import session
from .atomic import atomic_path, remove_stale_temporaries
from .download import (
    STALE_PART_SECONDS,
    DamagedArchiveError,
    UnsafeArchiveError,
    download_file,
    extract_archive,
    find_folder,
    is_archive_name,
    staged_folder,
)
from .images import Screened, Screener, ScreeningReport, is_image_file, load_rgb
from .profiles import Profile, get_profile
from .splits import per_class_order, stratified_split
from .synthetic import write_synthetic_dataset
from .transforms import preset_transforms

SPLITS = ("train", "val", "test")
SOURCES = ("COURSE_DATA_DIR", "cache", "download", "synthetic")
DEFAULT_SEED = 42
SYNTHETIC_PER_CLASS = {"train": 64, "val": 24, "test": 24}
"""Stand-in images per class when the profile keeps every image (``None``)."""
PROGRESS_FROM = 2000
"""Show a progress bar when at least this many files need decoding."""

Sample = tuple[str, int]
TO_TENSOR = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


class DatasetUnavailable(RuntimeError):
    """No usable copy of a dataset could be found or downloaded; the message says what to do."""


class DatasetLayoutError(DatasetUnavailable):
    """A dataset folder exists but is not laid out as the registry describes."""


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------


@functools.cache
def _registry_text() -> str:
    try:
        from importlib.resources import files

        return (files("course_utils.registry") / "registry.json").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):  # running from a checkout before `pip install -e .`
        return (Path(__file__).resolve().parents[1] / "data" / "registry.json").read_text(encoding="utf-8")


def registry() -> dict[str, dict]:
    """Every dataset's registry entry (a fresh copy: changing it changes nothing else)."""
    return json.loads(_registry_text())["datasets"]


def dataset_info(name: str) -> dict:
    """One dataset's registry entry: classes, layouts, sources, split policy..."""
    entries = registry()
    if name not in entries:
        raise ValueError(f"unknown dataset {name!r}; the course has {sorted(entries)}")
    return entries[name]


# ---------------------------------------------------------------------------------------------
# The torch dataset
# ---------------------------------------------------------------------------------------------


class ImageDataset(Dataset):
    """Images from ``(path, label)`` samples, like ``torchvision.datasets.ImageFolder``.

    ``dataset[i]`` is ``(transform(image), label)`` where ``image`` is 8-bit RGB (PIL); without a
    ``transform`` it is a float tensor in [0, 1]. ``transform`` may be changed at any time, but a
    loader whose worker processes are already running (``persistent_workers``) keeps the old one:
    set transforms before calling ``loaders()``.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str | Path, int]],
        classes: Sequence[str],
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        root: str | Path | None = None,
    ) -> None:
        self.classes = list(classes)
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        self.samples: list[Sample] = [(str(path), int(label)) for path, label in samples]
        bad = [label for _, label in self.samples if not 0 <= label < len(self.classes)]
        if bad:
            raise ValueError(f"labels {sorted(set(bad))} are outside 0..{len(self.classes) - 1}")
        self.targets = [label for _, label in self.samples]
        self.transform = transform
        self.target_transform = target_transform
        self.root = root

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> Image.Image:
        """The ``index``-th image as 8-bit RGB PIL image, before any transform."""
        return load_rgb(self.samples[index][0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        image = load_rgb(path)
        tensor = self.transform(image) if self.transform is not None else TO_TENSOR(image)
        return tensor, (self.target_transform(label) if self.target_transform is not None else label)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}: {len(self)} images, {len(self.classes)} classes {self.classes}"]
        if self.root is not None:
            lines.append(f"    root: {self.root}")
        if self.transform is not None:
            lines.append("    transform: " + repr(self.transform).replace("\n", "\n    "))
        return "\n".join(lines)


def class_from_filename(path: str | Path) -> str:
    """The class a Kaggle-style file name starts with, in lower case: ``.../dog.113.jpg`` -> ``"dog"``."""
    return os.path.basename(path).split(".")[0].lower()


class FileNameDataset(Dataset):
    """Images labelled by their file name, as in Kaggle's Dogs vs. Cats: ``dog.113.jpg`` is a dog.

    ``__init__`` only works out each file's label; ``__getitem__`` reads one image when a DataLoader
    asks for it, so the photos never all sit in memory. ``dataset[i]`` is ``(transform(image), label)``
    with ``image`` an 8-bit RGB PIL image (the PIL image itself without a ``transform``) and ``label``
    the index of its class in ``classes``. ``samples`` lists ``(path, label)`` like torchvision's ImageFolder.
    """

    def __init__(self, paths: Sequence[str | Path], classes: Sequence[str], transform: Callable | None = None) -> None:
        self.classes = list(classes)
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        by_name = {name.lower(): index for index, name in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = []
        for path in paths:
            name = class_from_filename(path)
            if name not in by_name:
                raise ValueError(f"{path}: the file name does not start with one of {self.classes} and a dot")
            self.samples.append((str(path), by_name[name]))
        self.targets = [label for _, label in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        image = load_rgb(path)  # any file mode (grayscale, CMYK, PNG with alpha) becomes 8-bit RGB
        return (self.transform(image) if self.transform is not None else image), label


@dataclass
class CourseData:
    """What :func:`load_dataset` returns: three datasets plus where they came from."""

    name: str
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    classes: list[str]
    source: str
    """One of :data:`SOURCES`: ``"COURSE_DATA_DIR"``, ``"cache"``, ``"download"`` or ``"synthetic"``."""
    root: Path
    report: ScreeningReport
    profile: Profile
    seed: int

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"

    def loaders(
        self, batch_size: int | None = None, num_workers: int | None = None
    ) -> tuple[DataLoader, DataLoader, DataLoader]:
        """``(train, val, test)`` loaders; train is shuffled by a generator seeded with ``seed``.

        Batch size and worker count default to the profile's.
        """
        workers = self.profile.num_workers if num_workers is None else num_workers
        common = {
            "batch_size": batch_size or self.profile.batch_size,
            "num_workers": workers,
            "pin_memory": torch.cuda.is_available(),
        }
        generator = torch.Generator().manual_seed(self.seed)
        # Train and val are read every epoch: their workers persist. The test loader is read once or
        # twice, so its workers are not kept idling for the rest of the session.
        return (
            DataLoader(self.train, shuffle=True, generator=generator, persistent_workers=workers > 0, **common),
            DataLoader(self.val, shuffle=False, persistent_workers=workers > 0, **common),
            DataLoader(self.test, shuffle=False, **common),
        )

    def summary(self) -> str:
        """One line: name, source, images per split, profile, skipped files, a far smaller class."""
        where = f"{self.source} ({self.root})"
        sizes = ", ".join(f"{split} {len(getattr(self, split))}" for split in SPLITS)
        line = f"{self.name} | {where} | {sizes} | {len(self.classes)} classes | {self.profile.name} profile"
        if self.report.skipped:
            line += f" | {len(self.report.skipped)} files skipped (see .report)"
        if self.report.imbalance():
            line += " | " + self.report.imbalance()
        if self.synthetic:
            line += " | " + session.synthetic_warning([self.name])
        return line

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"CourseData({self.summary()})"


# ---------------------------------------------------------------------------------------------
# Finding the files of a dataset folder
# ---------------------------------------------------------------------------------------------


def _layout_error(name: str, info: dict, root: Path, problem: str) -> DatasetLayoutError:
    layouts = "\n".join(f"    {layout}" for layout in info["layouts"])
    return DatasetLayoutError(
        f"{root} is not laid out as the course expects for {name!r}: {problem}.\n"
        f"Expected one of these layouts:\n{layouts}"
    )


def _visible_files(folder: Path, recursive: bool) -> list[str]:
    """Files under ``folder`` (not hidden; broken links included, to be reported), sorted by path
    (plain strings: 60,000 ``Path`` objects would cost seconds)."""
    if not recursive:
        return sorted(
            entry.path
            for entry in os.scandir(folder)
            if not entry.name.startswith(".") and (entry.is_file() or (entry.is_symlink() and not entry.is_dir()))
        )
    found = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        found += [os.path.join(directory, file) for file in files if not file.startswith(".")]
    return sorted(found)


def _subfolders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith("."))


def _found(folder: Path) -> str:
    """What a layout error says is there instead."""
    found = _subfolders(folder)
    return f"it has the folders {', '.join(found)}" if found else "it has no folders"


def _label_from_filename(path: str, names: dict[str, int]) -> int | None:
    """``cat.113.jpg`` -> the index of class ``cat`` (class or folder name, any case)."""
    return names.get(class_from_filename(path))


def _class_folders(name: str, info: dict, root: Path, folder: Path) -> list[Path | None]:
    """Each class's folder inside ``folder`` (``None`` where missing): its registry folder name or its
    class name, in any case, so Microsoft PetImages' ``Cat/`` and ``Dog/`` count as ``cats``/``dogs``."""
    subfolders = _subfolders(folder)
    found: list[Path | None] = []
    for class_name, class_folder in zip(info["classes"], info["class_folders"]):
        matches = [sub for sub in subfolders if sub.lower() in (class_folder.lower(), class_name.lower())]
        if len(matches) > 1:
            problem = f"{folder} has {' and '.join(matches)}, both for class {class_name!r}"
            raise _layout_error(name, info, root, problem)
        found.append(folder / matches[0] if matches else None)
    return found


@dataclass
class _Scan:
    """The files of a dataset folder by split folder (``"all"`` when it has none)."""

    candidates: dict[str, list[Sample]]
    """Image files (by extension) and their labels."""
    others: dict[str, list[Sample]]
    """Files that cannot be images (extension) or have no class (label -1), by the same split folders."""
    reasons: dict[str, str]
    """Why each of ``others`` is left out, by path."""
    places: dict[tuple[str, int], str]
    """Where the files of each (split folder, class) were looked for, for error messages."""

    def places_of(self, label: int) -> str:
        return ", ".join(place for (_, place_label), place in self.places.items() if place_label == label)

    @property
    def count(self) -> int:
        return sum(len(items) for items in [*self.candidates.values(), *self.others.values()])


def _scan_folder(name: str, info: dict, root: Path, folder: Path, split: str, scan: _Scan) -> None:
    class_folders = _class_folders(name, info, root, folder)
    images: list[Sample] = []
    others: list[Sample] = []
    if any(class_folders):
        if not all(class_folders):
            missing = [cf for cf, found in zip(info["class_folders"], class_folders) if found is None]
            problem = f"{folder} has no class folder {', '.join(missing)}; {_found(folder)}"
            raise _layout_error(name, info, root, problem)
        for label, class_folder in enumerate(class_folders):
            scan.places[(split, label)] = str(class_folder)
            for path in _visible_files(class_folder, recursive=True):
                if is_image_file(path):
                    images.append((path, label))
                else:
                    others.append((path, label))
                    scan.reasons[path] = "not an image file (extension)"
    elif info["label_from_filename"]:
        names = {n.lower(): i for i, n in enumerate(info["classes"])}
        names.update({n.lower(): i for i, n in enumerate(info["class_folders"])})
        for label, class_name in enumerate(info["classes"]):
            scan.places[(split, label)] = str(folder / f"{class_name}.*")
        for path in _visible_files(folder, recursive=False):
            label = _label_from_filename(path, names)
            if is_image_file(path) and label is not None:
                images.append((path, label))
                continue
            others.append((path, -1 if label is None else label))
            scan.reasons[path] = (
                "not an image file (extension)"
                if not is_image_file(path)
                else "no class name before the first dot of the file name"
            )
    else:
        problem = f"{folder} has none of the class folders {info['class_folders']}; {_found(folder)}"
        raise _layout_error(name, info, root, problem)
    scan.candidates[split], scan.others[split] = images, others


def _scan(name: str, info: dict, root: Path) -> _Scan:
    scan = _Scan({}, {}, {}, {})
    split_folders = [split for split in SPLITS if (root / split).is_dir()]
    for split in split_folders or ["all"]:
        _scan_folder(name, info, root, root / split if split_folders else root, split, scan)
    if split_folders and "train" not in split_folders:
        raise _layout_error(name, info, root, f"it has {split_folders} but no train folder")
    if not any(scan.candidates.values()):
        raise _layout_error(name, info, root, f"it contains no image files; {_found(root)}")
    for split, items in scan.candidates.items():
        present = {label for _, label in items}
        for label, class_name in enumerate(info["classes"]):
            if label not in present:
                problem = f"class {class_name!r} has no image file in {scan.places[(split, label)]}"
                raise _layout_error(name, info, root, problem)
    return scan


# ---------------------------------------------------------------------------------------------
# Splitting, subsetting and screening
# ---------------------------------------------------------------------------------------------


def _divide(items: list, fractions: Sequence[float], seed: int) -> list[list]:
    return [[items[i] for i in part] for part in stratified_split([label for _, label in items], fractions, seed)]


def _assign_splits(candidates: dict[str, list[Sample]], policy: dict, seed: int) -> dict[str, list]:
    """train/val/test from whichever split folders exist, following the registry's split policy."""
    if "all" in candidates or set(candidates) == {"train"}:
        pool = candidates.get("all", candidates.get("train"))
        return dict(zip(SPLITS, _divide(pool, policy["fractions"], seed)))
    splits = dict(candidates)
    if "val" not in splits:
        fraction = policy["val_from_train"]
        splits["train"], splits["val"] = _divide(splits["train"], [1 - fraction, fraction], seed)
    if "test" not in splits:
        fraction = policy["test_from_val"]
        splits["val"], splits["test"] = _divide(splits["val"], [1 - fraction, fraction], seed)
    return splits


def _screen_split(
    items: list[Sample], quota: int | None, seed: int, screen: Callable[[list[str]], list[Screened]]
) -> list[tuple[int, Screened]]:
    """Screen the items of one split: all of them (``quota=None``), or per class in a seeded shuffled
    order until ``quota`` readable images are found. Returns ``(item index, outcome)`` pairs."""
    if quota is None:
        return list(enumerate(screen([path for path, _ in items])))
    order = per_class_order([label for _, label in items], seed)
    used = dict.fromkeys(order, 0)
    good = dict.fromkeys(order, 0)
    outcomes: list[tuple[int, Screened]] = []
    while True:
        batch = []
        for label, members in order.items():
            wanted = members[used[label] : used[label] + quota - good[label]]
            used[label] += len(wanted)
            batch += wanted
        if not batch:
            return outcomes
        for index, outcome in zip(batch, screen([items[i][0] for i in batch])):
            outcomes.append((index, outcome))
            good[items[index][1]] += outcome.ok


def _manifest_path(cache_dir: Path, name: str, root: Path) -> Path:
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return cache_dir / ".screening" / f"{name}-{digest}.json"


def _require_every_class(
    name: str, info: dict, root: Path, scan: _Scan, splits: dict[str, list[Sample]], report: ScreeningReport
) -> None:
    """A split without some class makes accuracy meaningless (one class left scores 100 %): refuse it."""
    for split, items in splits.items():
        for label, class_name in enumerate(info["classes"]):
            if report.counts[(split, class_name)]:
                continue
            assigned = sum(item_label == label for _, item_label in items)
            if assigned:
                skipped = [item.reason for item in report.skipped if (item.split, item.label) == (split, class_name)]
                listed = "; ".join(f"{reason} ({count})" for reason, count in Counter(skipped).most_common(3))
                why = f"none of its {assigned} files there can be used: {listed}"
            else:
                total = sum(item_label == label for items in scan.candidates.values() for _, item_label in items)
                why = f"its {total} image files are too few to put one in every split"
            problem = f"class {class_name!r} has no usable image in the {split} split ({why}). Its files are in "
            raise _layout_error(name, info, root, problem + scan.places_of(label))


def _screened_samples(
    name: str, info: dict, root: Path, profile: Profile, seed: int, cache_dir: Path
) -> tuple[dict[str, list[Sample]], ScreeningReport]:
    started = time.perf_counter()
    scan = _scan(name, info, root)
    classes, policy = info["classes"], info["split_policy"]
    report = ScreeningReport(dataset=name, classes=list(classes), splits=list(SPLITS), candidates=scan.count)
    for split, others in _assign_splits(scan.others, policy, seed).items():  # apart: image splits stay as they are
        for path, label in others:
            report.add(split, classes[label] if label >= 0 else "", Screened(path, None, scan.reasons[path]))
    screener = Screener(_manifest_path(cache_dir, name, root), root)

    def screen(paths: list[str]) -> list[Screened]:
        return screener(paths, progress=len(paths) >= PROGRESS_FROM)

    splits = _assign_splits(scan.candidates, policy, seed)
    samples: dict[str, list[Sample]] = {}
    for split, items in splits.items():
        quota = profile.train_per_class if split == "train" else profile.eval_per_class
        kept = []
        for index, outcome in sorted(_screen_split(items, quota, seed, screen), key=lambda pair: pair[0]):
            report.add(split, classes[items[index][1]], outcome)
            if outcome.ok:
                kept.append(items[index])
        samples[split] = kept
    report.seconds = time.perf_counter() - started
    _require_every_class(name, info, root, scan, splits, report)
    return samples, report


# ---------------------------------------------------------------------------------------------
# Getting a copy: COURSE_DATA_DIR, cache, download, stand-in
# ---------------------------------------------------------------------------------------------


def _archive_name(name: str, url: str) -> str:
    return f"{name}-{Path(urlparse(url).path).name or 'download'}"


UNUSABLE_ARCHIVE = (UnsafeArchiveError, DamagedArchiveError, DatasetLayoutError, FileNotFoundError)
"""Errors that say the archive itself is bad (so it is deleted), as opposed to an interruption or a full disk."""


def _install_archive(name: str, info: dict, source: dict, target: Path, downloads: Path) -> None:
    """Download an archive, extract it, and move the folders it names into ``target``."""
    archive = download_file(
        source["url"],
        downloads / _archive_name(name, source["url"]),
        sha256=source.get("sha256"),
        md5=source.get("md5"),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    extracted = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-extract-"))  # local disk, not Drive
    try:
        extract_archive(archive, extracted / "archive")
        with staged_folder(target) as staging:
            for destination, inside in source["folders"].items():
                shutil.move(str(find_folder(extracted / "archive", inside)), str(staging / destination))
            _scan(name, info, staging)  # refuse to install something the loader would reject
    except UNUSABLE_ARCHIVE as error:
        archive.unlink(missing_ok=True)  # an archive that cannot be installed is not worth keeping
        raise DatasetUnavailable(f"{error} ({archive} was deleted: running again downloads a fresh copy)") from error
    finally:
        shutil.rmtree(extracted, ignore_errors=True)


def _install_torchvision(name: str, info: dict, source: dict, target: Path, downloads: Path) -> None:
    """Download with a torchvision dataset (it checks its md5) and write its images once as class
    folders, so every source is read by the same code."""
    import torchvision.datasets

    factory = getattr(torchvision.datasets, source["dataset"])
    folders = dict(zip(info["classes"], info["class_folders"]))
    extension = source.get("image_format", "png")
    kept = downloads / f"{name}-{source['dataset']}"  # archives only: Drive on Colab
    target.parent.mkdir(parents=True, exist_ok=True)
    raw = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-torchvision-"))  # unpacked on local disk
    try:
        _copy_archives(kept, raw)  # torchvision checks their md5 and skips the download
        _write_torchvision_images(name, info, source, factory, folders, extension, raw, target)
        _copy_archives(raw, kept)
    finally:
        shutil.rmtree(raw, ignore_errors=True)


def _copy_archives(source_root: Path, destination_root: Path) -> None:
    """Copy the archive files under ``source_root`` (keeping relative paths) that ``destination_root`` lacks."""
    if not source_root.is_dir():
        return
    for archive in source_root.rglob("*"):
        if archive.is_file() and is_archive_name(archive.name):
            destination = destination_root / archive.relative_to(source_root)
            if destination.parent.is_dir():  # what a killed copy left on Drive
                remove_stale_temporaries(destination, ".part", older_than=STALE_PART_SECONDS)
            if not destination.exists():
                with atomic_path(destination, suffix=".part") as temporary:
                    shutil.copyfile(archive, temporary)


def _write_torchvision_images(
    name: str, info: dict, source: dict, factory: Callable, folders: dict, extension: str, raw: Path, target: Path
) -> None:
    """Write every image of a torchvision dataset into class folders under ``target`` (atomically)."""
    failed = 0
    with staged_folder(target) as staging:
        for split, options in source["splits"].items():
            dataset = factory(root=str(raw), download=True, **source.get("options", {}), **options)
            for folder in folders.values():
                (staging / split / folder).mkdir(parents=True, exist_ok=True)
            for index in tqdm(range(len(dataset)), desc=f"{name} {split}: writing {extension.upper()} files"):
                try:
                    image, target_index = dataset[index]
                except (OSError, ValueError) as error:
                    failed += 1
                    print(f"{name}: skipped {split} image {index} that torchvision could not read ({error})")
                    continue
                label = source["labels"][target_index]
                path = staging / split / folders[label] / f"{label}.{index:05d}.{extension}"
                image.save(path, **({"quality": 95} if extension in ("jpg", "jpeg") else {}))
        _scan(name, info, staging)
    if failed:
        print(f"{name}: {failed} images could not be read from the torchvision download and were left out")


INSTALLERS = {"archive": _install_archive, "torchvision": _install_torchvision}


def _unavailable_message(name: str, info: dict, tried: list[str], cache_root: Path, sources: list[dict]) -> str:
    layouts = "\n".join(f"          {layout}" for layout in info["layouts"])
    urls = "\n".join(f"          {source['url']}" for source in sources)
    lines = [
        f"Dataset {name!r} ({info['title']}) is not available. Looked at:",
        *[f"  - {attempt}" for attempt in tried],
        "Do one of these:",
        f"  1. Set {session.DATA_DIR_ENV} to a folder that contains {name}/ laid out as one of",
        layouts,
        f"     terminal: export {session.DATA_DIR_ENV}=/path/to/folder",
        f"     notebook, before setup():  import os; os.environ[{session.DATA_DIR_ENV!r}] = '/path/to/folder'",
        "  2. Go online and run this again (with download=True, the default): it is downloaded once into",
        f"     {cache_root} from",
        urls,
    ]
    manual = info.get("manual", [])
    lines += [
        f"  {number}. {step}, then set {session.DATA_DIR_ENV} to <folder>" for number, step in enumerate(manual, 3)
    ]
    lines.append(
        "(Only the quick profile, COURSE_PROFILE=quick, may replace missing data with generated stand-in images.)"
    )
    return "\n".join(lines)


def _synthetic_copy(name: str, info: dict, profile: Profile, seed: int, cache_dir: Path) -> Path:
    per_class = {
        "train": profile.train_per_class or SYNTHETIC_PER_CLASS["train"],
        "val": profile.eval_per_class or SYNTHETIC_PER_CLASS["val"],
        "test": profile.eval_per_class or SYNTHETIC_PER_CLASS["test"],
    }
    width, height = info["image_size"]
    folder = f"{name}-{per_class['train']}-{per_class['val']}-{width}x{height}-seed{seed}"
    return write_synthetic_dataset(
        cache_dir / "_synthetic" / folder, info["class_folders"], per_class, (width, height), seed
    )


def _find_copy(
    name: str,
    info: dict,
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download_dir: Path,
    download: bool,
    sources: list[dict],
    profile: Profile,
    seed: int,
) -> tuple[Path, str]:
    """``(folder, source)`` of the first usable copy, in the order COURSE_DATA_DIR, cache, download,
    stand-in (quick profile only). Archives already in ``download_dir`` are unpacked, not fetched again."""
    tried = []
    if data_dir is None:
        tried.append(f"{session.DATA_DIR_ENV}: not set")
    elif (data_dir / name).is_dir():
        return data_dir / name, "COURSE_DATA_DIR"
    else:
        tried.append(f"{session.DATA_DIR_ENV}: {data_dir / name} does not exist")
    cached = cache_dir / name
    if cached.is_dir():
        return cached, "cache"
    tried.append(f"cache: {cached} does not exist")
    if not download or not sources:
        tried.append("download: switched off (download=False)" if not download else "download: no sources to try")
    for source in sources if download else []:
        try:
            INSTALLERS[source["kind"]](name, info, source, cached, download_dir)
            return cached, "download"
        except (OSError, RuntimeError, ValueError) as error:  # incl. DownloadError, UnsafeArchiveError
            tried.append(f"download from {source['url']} failed: {error}")
    if profile.allow_synthetic:
        folder = _synthetic_copy(name, info, profile, seed, cache_dir)
        session.mark_synthetic(name, reason="; ".join(tried))
        return folder, "synthetic"
    raise DatasetUnavailable(_unavailable_message(name, info, tried, cached, sources))


def load_dataset(
    name: str,
    *,
    train_transform: Callable | None = None,
    eval_transform: Callable | None = None,
    profile: Profile | str | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download_dir: str | Path | None = None,
    seed: int | None = None,
    download: bool = True,
    sources: list[dict] | None = None,
) -> CourseData:
    """Find, screen and split a course dataset (``"cifar10"``, ``"cats_dogs"`` or ``"rocks"``).

    The profile and seed left out come from ``setup()`` (or the environment when it was not called),
    the folders ``setup()`` chose (by :func:`session.data_folders`, the same rule used here when
    ``setup()`` was not called or a folder is given). Without
    transforms, the registry's preset for the dataset is used; give both or neither. ``sources``
    replaces the registry's download sources (a mirror, or a local server in tests). Prints one line
    saying where the data came from and how big each split is.
    """
    if (train_transform is None) != (eval_transform is None):
        raise ValueError("give both train_transform and eval_transform, or neither (to use the dataset's preset)")
    info = dataset_info(name)
    course = session.current()
    profile = get_profile(profile) if isinstance(profile, str) else profile
    profile = profile or (course.profile if course is not None else get_profile())
    seed = seed if seed is not None else (course.seed if course is not None else DEFAULT_SEED)
    if course is not None and data_dir is None and cache_dir is None and download_dir is None:
        data_dir, cache_dir, download_dir = course.data_dir, course.cache_dir, course.download_dir  # as the banner says
    else:
        data_dir, cache_dir, download_dir = session.data_folders(
            course is not None and course.drive_mounted, data_dir=data_dir, cache_dir=cache_dir, download_dir=download_dir
        )
    sources = copy.deepcopy(info["sources"] if sources is None else sources)
    root, source = _find_copy(
        name,
        info,
        data_dir=data_dir,
        cache_dir=cache_dir,
        download_dir=download_dir,
        download=download,
        sources=sources,
        profile=profile,
        seed=seed,
    )
    try:
        samples, report = _screened_samples(name, info, root, profile, seed, cache_dir)
    except DatasetLayoutError as error:
        if source != "cache":
            raise
        raise DatasetLayoutError(
            f"{error}\nThis folder is the download cache: delete it and run again to download a fresh copy."
        ) from None
    if train_transform is None:
        preset = dict(info["default_transforms"])
        train_transform = preset_transforms(preset.pop("preset"), train=True, **preset)
        eval_transform = preset_transforms(info["default_transforms"]["preset"], train=False, **preset)
    datasets = {
        split: ImageDataset(
            samples[split], info["classes"], train_transform if split == "train" else eval_transform, root=root
        )
        for split in SPLITS
    }
    data = CourseData(
        name,
        **datasets,
        classes=list(info["classes"]),
        source=source,
        root=root,
        report=report,
        profile=profile,
        seed=seed,
    )
    print(data.summary())
    return data
