"""Generated stand-in images, used only by the quick profile when no real data can be had.

Each class gets its own shape and hue (jittered in position, size and colour, on a noisy
background), so a small CNN can learn something and a notebook runs end to end. The images are
written as PNG files in the usual ``{split}/{class}/`` layout, so they go through the same loading
code as real data; ``session.mark_synthetic`` makes sure nobody mistakes them for real images.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .download import staged_folder

SHAPES = ("disc", "square", "triangle", "cross", "stripes", "ring")


def _class_colour(index: int, count: int, rng: np.random.Generator) -> tuple[int, int, int]:
    hue = (index / max(count, 1) + rng.uniform(-0.03, 0.03)) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0))
    return int(red * 255), int(green * 255), int(blue * 255)


def synthetic_image(label: int, num_classes: int, size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """One ``size`` = (width, height) RGB image for class ``label``: its shape and hue on noise."""
    width, height = size
    background = rng.normal(110, 35, (height, width, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    colour = _class_colour(label, num_classes, rng)
    radius = rng.uniform(0.22, 0.38) * min(width, height)
    cx = width / 2 + rng.uniform(-0.15, 0.15) * width
    cy = height / 2 + rng.uniform(-0.15, 0.15) * height
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    line = max(1, int(radius / 3))
    shape = SHAPES[label % len(SHAPES)]
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - radius), (cx + radius, cy + radius), (cx - radius, cy + radius)], fill=colour)
    elif shape == "cross":
        draw.line([(cx - radius, cy), (cx + radius, cy)], fill=colour, width=line)
        draw.line([(cx, cy - radius), (cx, cy + radius)], fill=colour, width=line)
    elif shape == "stripes":
        for offset in np.arange(-radius, radius, 2 * line):
            draw.line([(cx - radius, cy + offset), (cx + radius, cy + offset)], fill=colour, width=line)
    else:
        draw.ellipse(box, outline=colour, width=line)
    return image


def write_synthetic_dataset(
    root: str | Path,
    class_folders: Sequence[str],
    per_class: Mapping[str, int],
    size: tuple[int, int],
    seed: int,
) -> Path:
    """Write ``root/{split}/{class folder}/NNNN.png`` with ``per_class[split]`` images per class.

    The folder appears complete or not at all (written beside it, then renamed); an existing
    ``root`` is returned unchanged. The same arguments always give the same pixels.
    """
    root = Path(root)
    if root.is_dir():
        return root
    with staged_folder(root) as staging:
        for split_number, (split, count) in enumerate(per_class.items()):
            for label, folder in enumerate(class_folders):
                rng = np.random.default_rng((seed, split_number, label))
                (staging / split / folder).mkdir(parents=True)
                for number in range(count):
                    image = synthetic_image(label, len(class_folders), size, rng)
                    image.save(staging / split / folder / f"{number:04d}.png")
    return root
