"""Pretrained weights: the course's own CIFAR-10 backbone, shipped inside the package, checked by sha256.

``load_course_backbone()`` returns the ResNet-20 that ``tools/train_backbone.py`` trained on all
50,000 CIFAR-10 training images; ``backbone_provenance()`` says how (command, seed, epochs,
hardware, wall time, test accuracy). It works offline: the file is installed with the package.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

BACKBONE_NAME = "cifar_resnet20"
BACKBONE_DIR = Path(__file__).resolve().parent / "weights"


class WeightsError(RuntimeError):
    """Pretrained weights are missing or not the file their provenance describes."""


def backbone_provenance(name: str = BACKBONE_NAME) -> dict[str, Any]:
    """How the shipped backbone ``name`` was trained, as recorded when it was exported."""
    path = BACKBONE_DIR / f"{name}.json"
    if not path.is_file():
        raise WeightsError(f"no provenance file {path}: the course backbone has not been exported (tools/train_backbone.py)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_course_backbone(name: str = BACKBONE_NAME) -> torch.nn.Module:
    """The course's pretrained CIFAR-10 ResNet-20 in eval mode, after checking the file's sha256."""
    from .models.cifar_resnet import cifar_resnet

    provenance = backbone_provenance(name)
    path = BACKBONE_DIR / f"{name}.pt"
    if not path.is_file():
        raise WeightsError(f"{path} is missing: reinstall the course package or run tools/train_backbone.py")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != provenance["sha256"]:
        raise WeightsError(f"{path} has sha256 {digest[:16]}..., not the {provenance['sha256'][:16]}... it was exported with")
    model = cifar_resnet(20)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
