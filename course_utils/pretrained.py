"""Pretrained weights: ImageNet's ResNet-50 when it can be had, else the course's own CIFAR-10 backbone.

``pick_backbone()`` is what a transfer-learning notebook calls. It returns a :class:`Backbone`: the
network, its name (for banners, tables and plot titles), its feature width, its input size and
its own transforms. It tries, in order:

1. ImageNet weights through torchvision's weights API (``ResNet50_Weights.IMAGENET1K_V2``), loaded
   into the course's own ResNet-50 (``cu.models.resnet.resnet(50)``, torchvision's layer names).
   The ~100 MB file is downloaded once into the torch hub cache, which is on Google Drive
   (``MyDrive/cnn-course/torch-hub``) when Drive is mounted, so a new Colab machine finds it there.
2. The course's own CIFAR-10 ResNet-20 (``load_course_backbone()``), trained by
   ``tools/train_backbone.py`` and shipped inside the package, checked by sha256:
   a real pretrained network that works offline. It says plainly why ImageNet weights were not used.
3. Nothing: the full profile stops with :class:`WeightsError` saying how to get weights; only the
   quick profile continues with a loudly labelled randomly initialised stand-in (``pretrained`` False).

``COURSE_BACKBONE_DIR`` (or ``course_dir=``) points at another folder holding ``cifar_resnet20.pt``
and its provenance ``cifar_resnet20.json`` (tests, development).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.models import ResNet50_Weights
from torchvision.transforms import v2

from . import session
from .images import load_rgb
from .profiles import Profile, get_profile
from .tensordata import BatchAugment, TensorImages, batch_loader, decode_all
from .transforms import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, imagenet_transforms

BACKBONE_NAME = "cifar_resnet20"
BACKBONE_DIR = Path(__file__).resolve().parent / "weights"
BACKBONE_DIR_ENV = "COURSE_BACKBONE_DIR"
"""A folder to read the course backbone from instead of the package's ``weights/`` (tests, development)."""
HUB_DIR_ON_DRIVE = session.DRIVE_COURSE_DIR / "torch-hub"
"""The torch hub cache on Google Drive: downloaded weights survive a new Colab machine."""
IMAGENET_WEIGHTS = ResNet50_Weights.IMAGENET1K_V2
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
LOAD_ERRORS = (OSError, RuntimeError, EOFError, pickle.UnpicklingError)
"""What a failed download (URLError is an OSError) or a damaged weights file raises."""


class WeightsError(RuntimeError):
    """Pretrained weights are missing or not the file their provenance describes."""


# ---------------------------------------------------------------------------------------------
# The course's own CIFAR-10 backbone
# ---------------------------------------------------------------------------------------------


def course_backbone_dir(directory: str | Path | None = None) -> Path:
    """The folder of the course backbone: ``directory``, else ``COURSE_BACKBONE_DIR``, else the package's ``weights/``."""
    if directory is not None:
        return Path(directory)
    return session.env_path(BACKBONE_DIR_ENV) or BACKBONE_DIR


def backbone_provenance(name: str = BACKBONE_NAME, directory: str | Path | None = None) -> dict[str, Any]:
    """How the shipped backbone ``name`` was trained, as recorded when it was exported."""
    path = course_backbone_dir(directory) / f"{name}.json"
    if not path.is_file():
        raise WeightsError(f"no provenance file {path}: the course backbone has not been exported (tools/train_backbone.py)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_course_backbone(name: str = BACKBONE_NAME, directory: str | Path | None = None) -> nn.Module:
    """The course's pretrained CIFAR-10 ResNet-20 in eval mode, after checking the file's sha256."""
    from .models.cifar_resnet import cifar_resnet

    provenance = backbone_provenance(name, directory)
    path = course_backbone_dir(directory) / f"{name}.pt"
    if not path.is_file():
        raise WeightsError(f"{path} is missing: reinstall the course package or run tools/train_backbone.py")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != provenance["sha256"]:
        raise WeightsError(f"{path} has sha256 {digest[:16]}..., not the {provenance['sha256'][:16]}... it was exported with")
    model = cifar_resnet(20)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# ImageNet weights through torchvision's weights API
# ---------------------------------------------------------------------------------------------


def hub_dir(drive_mounted: bool | None = None) -> Path:
    """The torch hub cache that weights are downloaded to and read from.

    With Google Drive mounted (default: as ``setup()`` found it) and ``TORCH_HOME`` unset, it is set
    to ``MyDrive/cnn-course/torch-hub`` (``torch.hub.set_dir``), so the file is downloaded once.
    Otherwise torch's own choice: ``$TORCH_HOME/hub``, else ``~/.cache/torch/hub``.
    """
    if drive_mounted is None:
        course = session.current()
        drive_mounted = course is not None and course.drive_mounted
    if drive_mounted and not os.environ.get("TORCH_HOME", "").strip():
        torch.hub.set_dir(str(HUB_DIR_ON_DRIVE))
    return Path(torch.hub.get_dir())


def weights_file(weights: ResNet50_Weights = IMAGENET_WEIGHTS) -> Path:
    """Where torchvision keeps ``weights`` in the hub cache: ``<hub>/checkpoints/<file name of weights.url>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def imagenet_resnet50(
    weights: ResNet50_Weights = IMAGENET_WEIGHTS, *, download: bool = True, progress: bool = True
) -> nn.Module:
    """The course's ResNet-50 (``cu.models.resnet.resnet(50)``) with ImageNet ``weights``, in eval mode.

    The file comes from the hub cache (:func:`hub_dir`), downloaded there first when missing and
    ``download``. Raises :class:`WeightsError` when it cannot be had (offline, damaged file).
    """
    from .models.resnet import resnet

    hub_dir()
    path = weights_file(weights)
    if not path.is_file() and not download:
        raise WeightsError(f"{path} does not exist and download=False")
    try:
        state = weights.get_state_dict(progress=progress, check_hash=True)  # torch.hub.load_state_dict_from_url
    except LOAD_ERRORS as error:
        raise WeightsError(f"could not load {weights} from {path} ({type(error).__name__}: {error})") from error
    model = resnet(50)
    model.load_state_dict(state)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Choosing a backbone
# ---------------------------------------------------------------------------------------------


def _compose(steps: list, mean: tuple[float, ...], std: tuple[float, ...]) -> v2.Compose:
    return v2.Compose([*steps, v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def course_transforms(size: int = 32, *, train: bool = False) -> v2.Compose:
    """For the CIFAR-10 backbone: the shorter side to ``size`` and a centre crop (the aspect ratio is
    kept, never squashed), CIFAR-10 statistics; for training a random crop of 50-100 % and a flip."""
    if train:
        steps: list = [v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    return _compose(steps, CIFAR10_MEAN, CIFAR10_STD)


@dataclass
class Backbone:
    """A pretrained network and what a notebook needs to use it; see :func:`pick_backbone`."""

    model: nn.Module
    """The network with its original classifier ``fc`` still on, in eval mode."""
    name: str
    """Shown in banners, tables and plot titles, e.g. ``"ResNet-50 (ImageNet IMAGENET1K_V2)"``."""
    source: str
    """``"imagenet"``, ``"course"`` or ``"random"`` (the quick profile's stand-in: not pretrained)."""
    feature_width: int
    """Numbers per image that ``model.forward_features`` returns (2048 for ResNet-50, 64 for ResNet-20)."""
    input_size: int
    """The side of the square images the transforms produce (the resolution it was trained at, unless changed)."""
    resize: int
    """The shorter side is resized to this before the centre crop of ``input_size`` (232 for 224; 32 for 32)."""
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eval_transform: Callable
    train_transform: Callable
    classes: list[str]
    """What the original classifier predicts (ImageNet's 1,000 classes or CIFAR-10's 10)."""
    last_stage: str
    """The last residual stage (``"layer4"`` or ``"layer3"``): partial fine-tuning and Grad-CAM use it."""
    architecture: Callable[[], nn.Module] = field(repr=False)
    """Builds the same network with random weights (for training from scratch)."""
    about: str = ""
    """Where the weights come from (file, provenance)."""

    @property
    def pretrained(self) -> bool:
        return self.source != "random"

    def fresh(self) -> nn.Module:
        """A copy of the pretrained network to change and train (the backbone itself stays as it is)."""
        return copy.deepcopy(self.model)

    def scratch(self) -> nn.Module:
        """The same architecture with freshly initialised (random) weights, in train mode."""
        return self.architecture()

    def at_size(self, size: int, resize: int | None = None) -> Backbone:
        """The same backbone with transforms for ``size`` x ``size`` inputs (the network is shared).

        ``resize``: the shorter side before the centre crop (default: ``size * 8/7`` for ImageNet,
        as its presets do; ``size`` for the course backbone). ``resize=size`` crops nothing off a square image.
        """
        imagenet = self.source == "imagenet"
        resize = resize or (round(size * 8 / 7) if imagenet else size)
        eval_transform = _compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size)], self.mean, self.std)
        train_transform = imagenet_transforms(size, train=True) if imagenet else course_transforms(size, train=True)
        return replace(self, input_size=size, resize=resize, eval_transform=eval_transform, train_transform=train_transform)

    def decode(self, dataset: Any, *, workers: int | None = None) -> TensorImages:
        """The photos of ``dataset`` (``.samples``, ``.classes``) decoded once, cropped as :attr:`eval_transform`
        crops them (shorter side to :attr:`resize`, centre crop :attr:`input_size`), as one uint8 tensor."""
        geometry = v2.Compose([v2.Resize(self.resize, antialias=True), v2.CenterCrop(self.input_size), v2.PILToTensor()])
        samples = list(dataset.samples)
        images = decode_all(samples, self.input_size, lambda path: geometry(load_rgb(path)), workers=workers)
        targets = torch.tensor([label for _, label in samples], dtype=torch.long)
        return TensorImages(images, targets, dataset.classes)

    def loader(self, images: TensorImages, batch_size: int, *, train: bool = False, seed: int = 0) -> DataLoader:
        """Batches of decoded ``images`` normalised with this backbone's mean and std; ``train`` shuffles them
        (a generator seeded with ``seed``) and adds a random crop (after padding by 1/8 of the side) and a flip."""
        augment = BatchAugment(crop_padding=self.input_size // 8, flip=True) if train else None
        return batch_loader(images, batch_size, mean=self.mean, std=self.std, augment=augment, shuffle=train, seed=seed)

    def summary(self) -> str:
        return (f"{self.name} | {self.feature_width} features per image | {self.input_size}x{self.input_size} input"
                f" | last stage {self.last_stage}" + (f" | {self.about}" if self.about else ""))  # fmt: skip

    def __str__(self) -> str:
        return self.summary()


def _imagenet_backbone(weights: ResNet50_Weights, download: bool, progress: bool) -> Backbone:
    from .models.resnet import resnet

    model = imagenet_resnet50(weights, download=download, progress=progress)
    eval_transform = weights.transforms()
    return Backbone(
        model=model,
        name=f"ResNet-50 (ImageNet {weights.name})",
        source="imagenet",
        feature_width=model.fc.in_features,
        input_size=eval_transform.crop_size[0],
        resize=eval_transform.resize_size[0],
        mean=tuple(eval_transform.mean),
        std=tuple(eval_transform.std),
        eval_transform=eval_transform,
        train_transform=imagenet_transforms(eval_transform.crop_size[0], train=True),
        classes=list(weights.meta["categories"]),
        last_stage="layer4",
        about=f"torchvision {weights}, ImageNet-1k top-1 {weights.meta['_metrics']['ImageNet-1K']['acc@1']}%, {weights_file(weights)}",
        architecture=lambda: resnet(50),
    )


def _cifar_backbone(model: nn.Module, name: str, source: str, about: str) -> Backbone:
    """A CIFAR-10 ResNet-20 (pretrained or not) with its 32x32 transforms and CIFAR-10 classes."""
    from .models.cifar_resnet import cifar_resnet

    return Backbone(
        model=model,
        name=name,
        source=source,
        feature_width=model.fc.in_features,
        input_size=32,
        resize=32,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        eval_transform=course_transforms(32),
        train_transform=course_transforms(32, train=True),
        classes=list(CIFAR10_CLASSES),
        last_stage="layer3",
        about=about,
        architecture=lambda: cifar_resnet(20),
    )


def _course_backbone(directory: str | Path | None) -> Backbone:
    model = load_course_backbone(directory=directory)
    provenance = backbone_provenance(directory=directory)
    accuracy = provenance.get("test_accuracy")
    about = (f"CIFAR-10 test accuracy {accuracy:.1%}, " if isinstance(accuracy, float) else "") + (
        f"{provenance.get('epochs')} epochs on {provenance.get('hardware')}, "
        f"{course_backbone_dir(directory) / BACKBONE_NAME}.pt"
    )
    return _cifar_backbone(model, "ResNet-20 (the course's CIFAR-10 backbone)", "course", about)


def _random_backbone() -> Backbone:
    from .models.cifar_resnet import cifar_resnet

    name = "ResNet-20 with RANDOM weights (stand-in: no pretrained weights found)"
    return _cifar_backbone(cifar_resnet(20).eval(), name, "random", "randomly initialised: NOT pretrained")


def how_to_get_weights(directory: str | Path | None = None) -> str:
    """What to do when no pretrained weights can be found."""
    return "\n".join([
        "Get pretrained weights in one of these ways:",
        f"  1. Go online and run again: torchvision downloads {IMAGENET_WEIGHTS} (~100 MB) once into",
        f"     {weights_file()} (on Colab with Drive mounted: {HUB_DIR_ON_DRIVE}/checkpoints).",
        f"     Offline: copy {os.path.basename(urlparse(IMAGENET_WEIGHTS.url).path)} from {IMAGENET_WEIGHTS.url} there.",
        f"  2. Reinstall the course package (it ships {BACKBONE_NAME}.pt in {BACKBONE_DIR}),",
        "     or train the course backbone yourself: python tools/train_backbone.py",
        f"     ({BACKBONE_DIR_ENV} can point at another folder with {BACKBONE_NAME}.pt and .json; now:"
        f" {course_backbone_dir(directory)}).",
        "(Only the quick profile, COURSE_PROFILE=quick, continues with a randomly initialised stand-in.)",
    ])  # fmt: skip


def pick_backbone(
    *,
    prefer: str = "imagenet",
    download: bool = True,
    profile: Profile | str | None = None,
    course_dir: str | Path | None = None,
    progress: bool = True,
) -> Backbone:
    """The pretrained backbone for transfer learning: ImageNet's ResNet-50, else the course's ResNet-20.

    ``prefer="course"`` skips ImageNet. When ImageNet weights cannot be had, prints why and uses the
    course's CIFAR-10 backbone (from ``course_dir``, ``COURSE_BACKBONE_DIR`` or the package). With
    neither, the full profile raises :class:`WeightsError` saying how to get weights; the quick
    profile (``profile``, default the session's) continues with a random stand-in, loudly, whose
    ``pretrained`` is ``False``. Prints one line saying which backbone it is.
    """
    if prefer not in ("imagenet", "course"):
        raise ValueError(f"prefer must be 'imagenet' or 'course', not {prefer!r}")
    course = session.current()
    profile = get_profile(profile) if isinstance(profile, str) else profile
    profile = profile or (course.profile if course is not None else get_profile())
    reasons = []
    if prefer == "imagenet":
        try:
            backbone = _imagenet_backbone(IMAGENET_WEIGHTS, download, progress)
            print(f"backbone: {backbone}")
            return backbone
        except WeightsError as error:
            reasons.append(f"ImageNet weights: {error}")
            print(f"ImageNet weights could not be had: {error}.\n"
                  "Using the course's own CIFAR-10 backbone instead: a real pretrained network, trained on 50,000 photos.")  # fmt: skip
    try:
        backbone = _course_backbone(course_dir)
        print(f"backbone: {backbone}")
        return backbone
    except WeightsError as error:
        reasons.append(f"course backbone: {error}")
    if not profile.allow_synthetic:
        raise WeightsError("No pretrained weights could be found.\n  - " + "\n  - ".join(reasons) + "\n" + how_to_get_weights(course_dir))
    backbone = _random_backbone()
    print(f"!! {backbone.name} !!\n   why: " + "; ".join(reasons) + "\n" + how_to_get_weights(course_dir), file=sys.stderr)
    print(f"backbone: {backbone}")
    return backbone
