"""Reading images safely: decode once, convert every mode to 8-bit RGB, reject what cannot be read.

:func:`screen_images` checks many files at once (a thread pool, plus an optional manifest so that
files already checked are not decoded again) and :class:`ScreeningReport` summarises the outcome.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm.auto import tqdm

from .atomic import atomic_path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MANIFEST_VERSION = 2
"""2: manifests of version 1 may remember read errors (permission denied) as broken files."""
SMALL_CLASS_SHARE = 0.25
"""A class with fewer images than this share of the largest class's is called out as imbalanced."""
SCREEN_CHUNK = 500
"""Files per thread-pool task: small 32x32 JPEGs decode faster in chunks than one task each."""


class UnreadableImageError(ValueError):
    """A file that is empty, truncated, not an image, or otherwise cannot be decoded.

    ``transient`` when the file could not even be read (permission denied, an I/O error on a network
    drive, a missing file): trying again later may succeed, so screening does not remember it.
    """

    def __init__(self, path: str | Path, reason: str, *, transient: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
        self.transient = transient


def is_image_file(path: str | Path) -> bool:
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def _integer_to_8bit(image: Image.Image) -> Image.Image:
    """16-bit (``I;16*``), 32-bit integer (``I``) and float (``F``) grayscale -> 8-bit ``L``."""
    array = np.asarray(image, dtype=np.float64)
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and 255 < high <= 65535 and low >= 0):
        array = array / 257.0  # 0..65535 -> 0..255
    elif image.mode == "F" and 0.0 <= low and high <= 1.0:
        array = array * 255.0
    elif low < 0 or high > 255:
        array = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: grayscale, palette, CMYK, alpha (onto white) and 16-bit."""
    if image.mode.startswith("I") or image.mode == "F":
        image = _integer_to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("La", "RGBa"):  # premultiplied alpha
        image = image.convert("RGBA") if image.mode == "RGBa" else image.convert("LA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def _decode(path: Path) -> Image.Image:
    """Open ``path`` and decode every pixel; raise :class:`UnreadableImageError` on any failure."""
    try:
        if path.stat().st_size == 0:
            raise UnreadableImageError(path, "empty file")
        with Image.open(path) as image:
            image.load()  # decodes every pixel: truncated files fail here
            return image
    except UnreadableImageError:
        raise
    except FileNotFoundError:
        reason = f"broken link to {os.readlink(path)}" if path.is_symlink() else "file not found"
        raise UnreadableImageError(path, reason, transient=True) from None
    except UnidentifiedImageError:
        raise UnreadableImageError(path, "not an image") from None
    except Image.DecompressionBombError as error:
        raise UnreadableImageError(path, f"too large ({error})") from None
    except OSError as error:
        if error.errno is not None:  # the system could not read it: permission denied, an I/O error...
            raise UnreadableImageError(path, f"cannot read ({error})", transient=True) from None
        raise UnreadableImageError(path, f"cannot decode ({error})") from None  # PIL's truncation: no errno
    except (ValueError, SyntaxError, EOFError) as error:
        raise UnreadableImageError(path, f"cannot decode ({error})") from None


def _converted(path: Path, image: Image.Image) -> Image.Image:
    try:
        return to_rgb(image)
    except (OSError, ValueError) as error:
        raise UnreadableImageError(path, f"cannot convert mode {image.mode} to RGB ({error})") from None


def load_rgb(path: str | Path) -> Image.Image:
    """Decode ``path`` fully and return it as 8-bit RGB (EXIF rotation applied), or raise
    :class:`UnreadableImageError`."""
    path = Path(path)
    image = _decode(path)
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError):
        pass  # a broken EXIF block does not make the pixels unusable
    return _converted(path, image)


def check_image(path: str | Path) -> str:
    """Decode ``path`` fully, check it converts to RGB, and return its original PIL mode."""
    path = Path(path)
    image = _decode(path)
    _converted(path, image)
    return image.mode


class Screened(NamedTuple):
    """The outcome of checking one file: its original ``mode`` when readable, else a ``reason``
    (``transient`` when the file could not be read at all, so a later try may succeed)."""

    path: str
    mode: str | None
    reason: str | None
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None


def _screen_one(path: str) -> Screened:
    if not is_image_file(path):
        return Screened(path, None, "not an image file (extension)")
    try:
        return Screened(path, check_image(path), None)
    except UnreadableImageError as error:
        return Screened(path, None, error.reason, error.transient)


def _screen_chunk(paths: Sequence[str]) -> list[Screened]:
    return [_screen_one(path) for path in paths]


class Screener:
    """Screens files with a thread pool, remembering outcomes in an optional JSON ``manifest``.

    Outcomes are keyed by (path relative to ``root``, size, mtime), so a file that has not changed
    is not decoded again, in this call or a later session. Paths outside ``root`` are always decoded.
    Only files that were read are remembered: one that could not be read (permission denied, an I/O
    error) is tried again next time.
    """

    def __init__(self, manifest: str | Path | None = None, root: str | Path | None = None, workers: int | None = None):
        self.manifest = Path(manifest) if manifest is not None and root is not None else None
        self.prefix = os.path.join(os.path.abspath(root), "") if root is not None else None
        self.workers = workers or min(8, os.cpu_count() or 1)
        self._known: dict[str, list] | None = None

    def _key(self, path: str) -> str | None:
        path = os.path.abspath(path)
        if self.prefix is None or not path.startswith(self.prefix):
            return None
        return path[len(self.prefix) :].replace(os.sep, "/")

    def _load(self) -> dict[str, list]:
        if self._known is None:
            self._known = {}
            if self.manifest is not None:
                try:
                    content = json.loads(self.manifest.read_text())
                    if content.get("version") == MANIFEST_VERSION:
                        self._known = content["files"]
                except (OSError, ValueError, KeyError, AttributeError):
                    pass  # no manifest yet, or an unreadable one: screen again
        return self._known

    def _save(self) -> None:
        """Write atomically; a manifest is only a speed-up, so failing to write it is not an error."""
        try:
            with atomic_path(self.manifest, suffix=".part") as temporary:
                temporary.write_text(json.dumps({"version": MANIFEST_VERSION, "files": self._known}))
        except OSError:
            pass

    def __call__(self, paths: Sequence[str | Path], *, progress: bool = False) -> list[Screened]:
        """Decode every file once and say which are usable, in the order given."""
        paths = [os.fspath(path) for path in paths]
        known = self._load()
        results: list[Screened | None] = [None] * len(paths)
        stamps: dict[int, tuple[str, list[int]]] = {}
        todo: list[int] = []
        for index, path in enumerate(paths):
            key = self._key(path) if self.manifest is not None else None
            if key is not None:
                try:
                    stat = os.stat(path)
                    stamps[index] = (key, [stat.st_size, stat.st_mtime_ns])
                except OSError:
                    key = None
            cached = known.get(key) if key is not None else None
            if cached is not None and cached[:2] == stamps[index][1]:
                results[index] = Screened(path, cached[2], cached[3])
            else:
                todo.append(index)
        chunks = [todo[start : start + SCREEN_CHUNK] for start in range(0, len(todo), SCREEN_CHUNK)]
        with tqdm(total=len(todo), desc="checking images", unit="img", disable=not progress or not todo) as bar:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for chunk, outcomes in zip(chunks, pool.map(_screen_chunk, [[paths[i] for i in c] for c in chunks])):
                    for index, outcome in zip(chunk, outcomes):
                        results[index] = outcome
                        if index in stamps and not outcome.transient:
                            key, stamp = stamps[index]
                            known[key] = [*stamp, outcome.mode, outcome.reason]
                    bar.update(len(chunk))
        if self.manifest is not None and any(index in stamps for index in todo):
            self._save()
        return results  # type: ignore[return-value]  # every slot is filled above


def screen_images(
    paths: Sequence[str | Path],
    *,
    manifest: str | Path | None = None,
    root: str | Path | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> list[Screened]:
    """Decode every file once and say which are usable (see :class:`Screener`), in the order given.

    With ``manifest`` (a JSON file) and ``root`` (the folder the files lie under), a file that has
    not changed since it was last screened is not decoded again. ``workers`` threads (default: the
    CPU count, at most 8) share the decoding.
    """
    return Screener(manifest, root, workers)(paths, progress=progress)


@dataclass
class SkippedFile:
    path: str
    split: str
    label: str
    reason: str


@dataclass
class ScreeningReport:
    """What screening kept (per split and class), converted and skipped, and why."""

    dataset: str
    classes: list[str]
    splits: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    """``(split, class) -> images kept``."""
    converted: Counter = field(default_factory=Counter)
    """``original mode -> images kept that were converted to RGB``."""
    skipped: list[SkippedFile] = field(default_factory=list)
    checked: int = 0
    """Files decoded or looked up in the manifest."""
    candidates: int = 0
    """Files found in the dataset folder (the quick profile checks only the ones it needs)."""
    seconds: float = 0.0

    def add(self, split: str, label: str, outcome: Screened) -> None:
        """Record one screened file: kept in ``split`` when readable, else listed as skipped."""
        self.checked += 1
        if not outcome.ok:
            self.skipped.append(SkippedFile(str(outcome.path), split, label, outcome.reason or ""))
            return
        if split not in self.splits:
            self.splits.append(split)
        self.counts[(split, label)] += 1
        if outcome.mode != "RGB":
            self.converted[outcome.mode] += 1

    def to_frame(self) -> pd.DataFrame:
        """Images kept: one row per class, one column per split, plus totals."""
        frame = pd.DataFrame(
            [[self.counts[(split, label)] for split in self.splits] for label in self.classes],
            index=pd.Index(self.classes, name="class"),
            columns=pd.Index(self.splits, name="split"),
            dtype=int,
        )
        frame["total"] = frame.sum(axis=1)
        frame.loc["total"] = frame.sum(axis=0)
        return frame

    def imbalance(self) -> str:
        """``"imbalanced: Highland has 4 images, Basalt 20"`` when a class has far fewer images than the
        largest (under :data:`SMALL_CLASS_SHARE` of it): accuracy then mostly measures the large class.
        Empty when the classes are comparable."""
        totals = {label: sum(self.counts[(split, label)] for split in self.splits) for label in self.classes}
        largest = max(totals, key=totals.__getitem__, default=None)
        small = [label for label, count in totals.items() if count < SMALL_CLASS_SHARE * totals.get(largest, 0)]
        if not small:
            return ""
        return "imbalanced: " + ", ".join(f"{label} has {totals[label]} images" for label in small) + (
            f", {largest} {totals[largest]}"
        )

    def skipped_frame(self) -> pd.DataFrame:
        """Skipped files: path, split, class and reason."""
        return pd.DataFrame([vars(item) for item in self.skipped], columns=["path", "split", "label", "reason"])

    def __str__(self) -> str:
        lines = [
            f"{self.dataset}: checked {self.checked} of {self.candidates} files in {self.seconds:.1f} s, "
            f"skipped {len(self.skipped)}",
            self.to_frame().to_string(),
        ]
        if self.imbalance():
            lines.append(self.imbalance())
        if self.converted:
            modes = ", ".join(f"{mode}: {count}" for mode, count in sorted(self.converted.items()))
            lines.append(f"converted to RGB: {modes}")
        if self.skipped:
            reasons = Counter(item.reason for item in self.skipped)
            lines.append("skipped: " + "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common()))
            lines += [f"  {item.path}: {item.reason}" for item in self.skipped[:5]]
            if len(self.skipped) > 5:
                lines.append(f"  ... and {len(self.skipped) - 5} more (report.skipped_frame())")
        return "\n".join(lines)
