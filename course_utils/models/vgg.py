"""VGG (Simonyan & Zisserman, 2014): configurations A, B, D and E (VGG-11/13/16/19) from one table.

Every VGG is the same recipe: 3x3 convolutions with padding 1 (the map keeps its size), each
followed by a ReLU, grouped in five blocks that each end in a 2x2 max pool (the map halves), then
three fully connected layers. Only the number of convolutions per block differs. The layer names
(``features.0``, ``classifier.6``) are torchvision's, so a ``torchvision.models.vgg16`` state dict
loads with ``strict=True``. :func:`cifar_vgg` is the 32x32 variant: the same convolution stacks,
and one linear layer as the classifier, because five poolings leave a 1x1 map of 512 numbers per image.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
"""Table 1 of the paper: the output channels of each 3x3 convolution in order, ``"M"`` for a 2x2 max pool."""
DEPTHS = {11: "A", 13: "B", 16: "D", 19: "E"}
"""Weight layers (convolutions + 3 fully connected) of each configuration: VGG-16 is configuration D."""


def make_layers(
    config: list[int | str], batch_norm: bool | Literal["block"] = False, width: float = 1.0, in_channels: int = 3
) -> nn.Sequential:
    """The convolution stack of one configuration: conv 3x3 -> ReLU for each number, max pool 2x2 for each ``"M"``.

    ``batch_norm``: ``False`` as in the paper; ``True`` puts a BatchNorm2d between every convolution
    and its ReLU (torchvision's ``vgg16_bn``); ``"block"`` puts one BatchNorm2d at the end of each
    block, after its last ReLU and before the pool (the lecture's VGGNet16). ``width`` scales every
    channel count (``1/8``: 8 to 64 channels instead of 64 to 512).
    """
    if batch_norm not in (False, True, "block"):
        raise ValueError(f'batch_norm must be False, True or "block", not {batch_norm!r}')
    layers: list[nn.Module] = []
    for item in config:
        if item == "M":
            if batch_norm == "block":
                layers.append(nn.BatchNorm2d(in_channels))
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        channels = max(1, round(int(item) * width))
        layers.append(nn.Conv2d(in_channels, channels, kernel_size=3, padding=1))
        if batch_norm is True:
            layers.append(nn.BatchNorm2d(channels))
        layers.append(nn.ReLU(inplace=True))
        in_channels = channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A convolution stack (``features``), average pooling to ``pool_size`` x ``pool_size``, then the classifier.

    For ImageNet (the paper): 224x224 input, 7x7x512 maps after the five pools, three linear layers
    4096-4096-1000 with dropout 0.5. The paper had no pooling layer before the classifier (its input
    size was fixed); ``AdaptiveAvgPool2d(7)`` is torchvision's, a no-op at 224x224 that lets other
    sizes in. ``hidden=None`` makes the classifier one linear layer (the CIFAR variant).
    """

    def __init__(
        self, features: nn.Sequential, num_classes: int = 1000, *, pool_size: int = 7, hidden: int | None = 4096,
        dropout: float = 0.5,
    ) -> None:  # fmt: skip
        super().__init__()
        channels = [layer.out_channels for layer in features if isinstance(layer, nn.Conv2d)][-1]
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        if hidden is None:
            self.classifier = nn.Sequential(nn.Linear(channels * pool_size * pool_size, num_classes))
        else:
            self.classifier = nn.Sequential(
                nn.Linear(channels * pool_size * pool_size, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_classes),
            )
        initialise(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 512, 7, 7) for 224x224 input; (N, 512, 1, 1) for 32x32
        x = self.avgpool(x).flatten(1)
        return self.classifier(x)  # (N, num_classes)


def initialise(model: nn.Module) -> None:
    """torchvision's initialisation: He (Kaiming) normal convolutions, N(0, 0.01) linear layers, zero biases."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


def vgg(depth: int, num_classes: int = 1000, *, batch_norm: bool | Literal["block"] = False) -> VGG:
    """VGG-11/13/16/19 for 224x224 images, as in the paper (``batch_norm=True``: torchvision's ``vgg16_bn``)."""
    if depth not in DEPTHS:
        raise ValueError(f"VGG depth must be one of {sorted(DEPTHS)}, not {depth}")
    return VGG(make_layers(CONFIGS[DEPTHS[depth]], batch_norm), num_classes)


def cifar_vgg(depth: int = 16, num_classes: int = 10, *, batch_norm: bool | Literal["block"] = True, width: float = 1.0) -> VGG:
    """VGG for 32x32 images: the same convolution stack (``width`` scales its channels), then one linear layer.

    Five poolings leave 1x1 maps, so the 512 numbers per image go straight to the classes. (Three
    linear layers of 512 learn far more slowly here: initialised as torchvision does, N(0, 0.01),
    each one shrinks the signal and the gradient about fivefold.)
    """
    if depth not in DEPTHS:
        raise ValueError(f"VGG depth must be one of {sorted(DEPTHS)}, not {depth}")
    return VGG(make_layers(CONFIGS[DEPTHS[depth]], batch_norm, width), num_classes, pool_size=1, hidden=None)
