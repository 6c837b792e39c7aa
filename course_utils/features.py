"""Feature extraction that costs one backbone pass: features computed once, then head epochs on the cache.

In the *feature extraction* strategy the backbone is frozen, so every epoch would compute exactly
the same features again. Computing them once and training the head on the stored vectors makes
ten head epochs cost about one pass of the backbone::

    backbone = cu.features.headless(model)                          # the network without its fc layer
    train_features = cu.features.extract_features(backbone, train_loader)   # one pass, no gradients
    val_features = cu.features.extract_features(backbone, val_loader)
    head = cu.transfer.classifier_head(train_features.width, num_classes=2)
    cu.fit(head, cu.features.feature_loader(train_features, 64, shuffle=True),
           cu.features.feature_loader(val_features, 256), loss_fn=nn.NLLLoss(), ...)
    model.fc = head                                                 # the whole network again, for predict()

The price: the features are those of the images as the loader gave them once, so random
augmentation is drawn once, not every epoch (use an evaluation transform for both loaders).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, default_collate
from tqdm.auto import tqdm

from . import session
from .evaluation import dataset_classes
from .inspection import model_device, preserved_state
from .tensordata import StackedSamples


def headless(model: nn.Module, head: str = "fc") -> nn.Module:
    """``model`` with its ``head`` attribute (``fc`` in ResNets) replaced by ``nn.Identity``, sharing its weights.

    The model itself keeps its head; the returned network outputs the feature vectors the head reads.
    """
    if not hasattr(model, head):
        raise ValueError(f"{type(model).__name__} has no attribute {head!r} to remove")
    backbone = copy.copy(model)
    backbone._modules = dict(model._modules)  # a separate registry of children, the same child modules
    setattr(backbone, head, nn.Identity())
    return backbone


class FeatureDataset(Dataset):
    """Feature vectors ``(N, width)`` with their labels and class names: ``dataset[i]`` is ``(features, label)``."""

    def __init__(self, features: torch.Tensor, targets: torch.Tensor, classes: Sequence[str] | None = None) -> None:
        if features.ndim != 2 or len(features) != len(targets):
            raise ValueError(f"expected (N, width) features and N labels, got {tuple(features.shape)} and {len(targets)}")
        self.features = features
        self.targets = targets.long()
        self.classes = list(classes) if classes is not None else None

    @property
    def width(self) -> int:
        """How many numbers describe each image (the head's ``in_features``)."""
        return self.features.size(1)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.targets[index]

    def __getitems__(self, indices: Sequence[int]) -> StackedSamples:
        index = torch.as_tensor(indices, dtype=torch.long, device=self.features.device)
        return StackedSamples(self.features[index], self.targets[index])

    def to(self, device: str | torch.device) -> FeatureDataset:
        return FeatureDataset(self.features.to(device), self.targets.to(device), self.classes)


def collate_stacked(items: Any) -> Any:
    """A batch fetched in one indexing operation as it is; anything else through ``default_collate``."""
    if isinstance(items, StackedSamples):
        return items.images, items.targets
    return default_collate(items)


def extract_features(
    backbone: nn.Module,
    loader: Iterable[Any],
    *,
    device: str | torch.device | None = None,
    classes: Sequence[str] | None = None,
    progress: bool = True,
) -> FeatureDataset:
    """Run ``backbone`` once over ``loader`` (eval mode, no gradients) and keep its outputs and the labels.

    ``device`` defaults to ``setup()``'s, else where the backbone is; the features stay there (on a
    GPU the head then trains without copying batches). The backbone's train/eval mode is restored
    afterwards. ``classes`` defaults to the loader's dataset's.
    """
    course = session.current()
    device = torch.device(device or (course.device if course is not None else model_device(backbone)))
    backbone.to(device)
    features, targets = [], []
    with preserved_state(backbone, training=False), torch.inference_mode():
        for inputs, labels, *_ in tqdm(loader, desc="features", unit="batch", disable=not progress, leave=False):
            outputs = backbone(inputs.to(device, non_blocking=True))
            features.append(outputs.flatten(1).float())
            targets.append(labels.to(device, non_blocking=True))
    if not features:
        raise ValueError("extract_features(): the loader yielded no samples")
    names = classes if classes is not None else dataset_classes(loader)
    return FeatureDataset(torch.cat(features), torch.cat(targets), names)


def feature_loader(
    features: FeatureDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
) -> DataLoader:
    """Batches of cached features for ``fit`` (shuffled from a seeded generator, so runs repeat and resume exactly)."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(features, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=collate_stacked, drop_last=drop_last)  # fmt: skip
