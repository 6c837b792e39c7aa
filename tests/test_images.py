"""load_rgb on every odd kind of file, and screening with its report and manifest."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils import images
from course_utils.images import Screener, ScreeningReport, UnreadableImageError, load_rgb, screen_images


def jpeg_bytes(size: tuple[int, int] = (24, 16), colour: tuple[int, int, int] = (200, 30, 60)) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 40, (size[1], size[0], 3))
    Image.fromarray((np.array(colour) + noise).clip(0, 255).astype(np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_odd_files(folder: Path) -> dict[str, Path]:
    """One file of every kind the course's loaders must convert or reject."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        name: folder / name
        for name in (
            "rgb.jpg",
            "gray.png",
            "cmyk.jpg",
            "rgba.png",
            "palette.png",
            "gray16.png",
            "gray_alpha.png",
            "empty.jpg",
            "truncated.jpg",
            "text.jpg",
            "notes.txt",
        )
    }
    paths["rgb.jpg"].write_bytes(jpeg_bytes())
    Image.new("L", (20, 10), 128).save(paths["gray.png"])
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(paths["cmyk.jpg"])  # pure red in CMYK
    rgba = Image.new("RGBA", (20, 10), (0, 0, 255, 255))
    rgba.paste((0, 0, 0, 0), (0, 0, 10, 10))  # left half fully transparent
    rgba.save(paths["rgba.png"])
    palette = Image.new("P", (20, 10), 0)
    palette.putpalette([0, 200, 0] + [0, 0, 0] * 255)
    palette.save(paths["palette.png"])
    Image.fromarray(np.full((10, 20), 65535, dtype=np.uint16)).save(paths["gray16.png"])
    Image.new("LA", (20, 10), (50, 255)).save(paths["gray_alpha.png"])
    paths["empty.jpg"].write_bytes(b"")
    paths["truncated.jpg"].write_bytes(jpeg_bytes((64, 64))[:300])
    paths["text.jpg"].write_text("this is not a picture\n")
    paths["notes.txt"].write_text("a README that sits among the images\n")
    return paths


@pytest.fixture
def odd(tmp_path: Path) -> dict[str, Path]:
    return write_odd_files(tmp_path / "odd")


def pixel(path: Path, xy: tuple[int, int] = (15, 5)) -> tuple[int, ...]:
    image = load_rgb(path)
    assert image.mode == "RGB"
    return image.getpixel(xy)


def test_modes_are_converted_to_rgb(odd: dict[str, Path]) -> None:
    assert Image.open(odd["gray16.png"]).mode.startswith("I")  # really a 16-bit file
    assert pixel(odd["gray.png"]) == (128, 128, 128)
    assert pixel(odd["gray16.png"]) == (255, 255, 255)  # 65535 -> 255, not clipped garbage
    assert pixel(odd["palette.png"]) == (0, 200, 0)
    assert pixel(odd["gray_alpha.png"]) == (50, 50, 50)
    assert pixel(odd["rgba.png"], (15, 5)) == (0, 0, 255)
    assert pixel(odd["rgba.png"], (2, 5)) == (255, 255, 255)  # transparent -> white background
    red, green, blue = pixel(odd["cmyk.jpg"])
    assert red > 200 and green < 60 and blue < 60
    assert load_rgb(odd["rgb.jpg"]).size == (24, 16)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.jpg", "empty file"),
        ("truncated.jpg", "cannot decode"),
        ("text.jpg", "not an image"),
        ("missing.jpg", "file not found"),
    ],
)
def test_unreadable_files_raise_with_a_reason(odd: dict[str, Path], name: str, reason: str) -> None:
    path = odd["rgb.jpg"].parent / name
    with pytest.raises(UnreadableImageError, match=reason) as caught:
        load_rgb(path)
    assert caught.value.path == str(path) and reason in caught.value.reason


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (30, 10), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert load_rgb(tmp_path / "rotated.jpg").size == (10, 30)


def test_screening_keeps_convertible_and_skips_broken(odd: dict[str, Path]) -> None:
    outcomes = {Path(outcome.path).name: outcome for outcome in screen_images(list(odd.values()))}
    assert [name for name, outcome in outcomes.items() if outcome.ok] == [
        "rgb.jpg",
        "gray.png",
        "cmyk.jpg",
        "rgba.png",
        "palette.png",
        "gray16.png",
        "gray_alpha.png",
    ]
    assert outcomes["gray16.png"].mode in ("I;16", "I") and outcomes["cmyk.jpg"].mode == "CMYK"
    assert outcomes["empty.jpg"].reason == "empty file"
    assert outcomes["truncated.jpg"].reason.startswith("cannot decode")
    assert outcomes["text.jpg"].reason == "not an image"
    assert outcomes["notes.txt"].reason == "not an image file (extension)"


def test_manifest_skips_unchanged_files_and_rechecks_changed_ones(
    odd: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    real_check = images.check_image
    monkeypatch.setattr(images, "check_image", lambda path: decoded.append(Path(path).name) or real_check(path))
    manifest, root = tmp_path / "cache" / "manifest.json", odd["rgb.jpg"].parent
    paths = [odd["rgb.jpg"], odd["truncated.jpg"], odd["gray.png"]]
    first = Screener(manifest, root)(paths)
    assert sorted(decoded) == ["gray.png", "rgb.jpg", "truncated.jpg"] and manifest.is_file()
    decoded.clear()
    second = Screener(manifest, root)(paths)  # a new session: read from the manifest
    assert decoded == [] and second == first
    odd["rgb.jpg"].write_bytes(b"")  # the file changes: its size and mtime no longer match
    os.utime(odd["rgb.jpg"], ns=(1, 1))
    third = Screener(manifest, root)(paths)
    assert decoded == ["rgb.jpg"] and third[0].reason == "empty file" and third[1:] == first[1:]


def test_manifest_that_is_corrupt_is_ignored(odd: dict[str, Path], tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{not json")
    outcomes = Screener(manifest, odd["rgb.jpg"].parent)([odd["rgb.jpg"], odd["empty.jpg"]])
    assert [outcome.ok for outcome in outcomes] == [True, False]


def test_report_counts_conversions_and_skips(odd: dict[str, Path]) -> None:
    report = ScreeningReport("demo", classes=["a", "b"], splits=["train", "val", "test"])
    for index, outcome in enumerate(screen_images(list(odd.values()))):
        report.add("train" if index % 2 else "val", "ab"[index % 2], outcome)
    frame = report.to_frame()
    assert frame.loc["total", "total"] == 7 and list(frame.columns) == ["train", "val", "test", "total"]
    assert frame.loc["a", "val"] + frame.loc["b", "train"] == 7
    sixteen_bit = Image.open(odd["gray16.png"]).mode  # "I;16" (or "I" with older Pillow)
    assert report.converted == {"L": 1, "CMYK": 1, "RGBA": 1, "P": 1, sixteen_bit: 1, "LA": 1}
    skipped = report.skipped_frame()
    assert sorted(Path(p).name for p in skipped["path"]) == ["empty.jpg", "notes.txt", "text.jpg", "truncated.jpg"]
    text = str(report)
    assert "skipped 4" in text and "empty file (1)" in text and "CMYK: 1" in text and "total" in text


@pytest.mark.parametrize(
    "error",
    [PermissionError(errno.EACCES, "Permission denied"), OSError(errno.EIO, "Input/output error")],
    ids=["permission-denied", "io-error"],
)
def test_manifest_does_not_remember_files_that_could_not_be_read(
    odd: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError
) -> None:
    """Only a file that was read and failed to decode is bad for good; a Drive hiccup is not."""
    manifest, root, path = tmp_path / "manifest.json", odd["rgb.jpg"].parent, odd["rgb.jpg"]
    real_open = Image.open

    def failing(file, *args, **kwargs):
        if Path(file) == path:
            raise error
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(Image, "open", failing)
    first = Screener(manifest, root)([path, odd["truncated.jpg"]])
    assert [outcome.ok for outcome in first] == [False, False]
    monkeypatch.setattr(Image, "open", real_open)  # the drive is back
    again = Screener(manifest, root)([path, odd["truncated.jpg"]])
    assert again[0].ok and again[1] == first[1]  # the truncated file stays remembered as broken
    assert first[0].reason.startswith("cannot read") and first[0].transient and not first[1].transient
