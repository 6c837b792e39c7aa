"""GoogLeNet (Szegedy et al., 2014, "Going deeper with convolutions"): Inception modules and auxiliary classifiers.

An Inception module runs 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by side on the same
input and concatenates their outputs along the channels. 1x1 convolutions first shrink the
channels in front of the 3x3 and 5x5 convolutions (and after the pool), which is what makes nine
such modules affordable. Layer names match ``torchvision.models.googlenet``, so its state dict
loads with ``strict=True`` when ``branch3_kernel=3``.

Where this differs from the 2014 paper: like torchvision, every convolution is followed by batch
norm (the paper had none; it used local response normalisation in the stem), which lets the network
train from scratch in a few epochs. ``branch3_kernel=5`` is the paper's 5x5 branch; torchvision
builds it with a 3x3 kernel (its source calls this a known bug, pytorch/vision#906), reproduced by
``branch3_kernel=3``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INCEPTION_CONFIGS: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
"""Table 1 of the paper, per module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (output channels)."""


class BasicConv2d(nn.Module):
    """Convolution (no bias: batch norm has its own shift), batch norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class NaiveInception(nn.Module):
    """Figure 2(a) of the paper: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool on the full input, concatenated.

    The pool branch passes every input channel through, so the output is always wider than the input.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = BasicConv2d(in_channels, ch3x3, kernel_size=3, padding=1)
        self.branch3 = BasicConv2d(in_channels, ch5x5, kernel_size=5, padding=2)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class Inception(nn.Module):
    """Figure 2(b): the same four branches, with 1x1 reductions before the 3x3 and 5x5 convolutions and after the pool.

    Output channels: ``ch1x1 + ch3x3 + ch5x5 + pool_proj``; the map keeps its size.
    ``branch3_kernel``: 5 as in the paper, 3 as in torchvision.
    """

    def __init__(
        self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int,
        *, branch3_kernel: int = 5,
    ) -> None:  # fmt: skip
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=branch3_kernel, padding=branch3_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """An auxiliary classifier: average pool to 4x4, 1x1 conv (128), FC 1024 + ReLU, dropout 0.7, FC to the classes.

    The paper pools 14x14 maps with a 5x5 window and stride 3, which gives 4x4; adaptive pooling
    gives 4x4 from any map size (torchvision's choice).
    """

    def __init__(self, in_channels: int, num_classes: int, *, channels: int = 128, hidden: int = 1024, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, channels, kernel_size=1)
        self.fc1 = nn.Linear(channels * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4))).flatten(1)  # (N, 128 * 4 * 4)
        x = self.dropout(F.relu(self.fc1(x), inplace=True))
        return self.fc2(x)


class GoogLeNetOutputs(NamedTuple):
    """What GoogLeNet returns in training mode (torchvision's order); in eval mode it returns ``logits`` only."""

    logits: Tensor
    aux_logits2: Tensor | None
    aux_logits1: Tensor | None


class GoogLeNet(nn.Module):
    """Stem, nine Inception modules with max pools between stages, global average pooling, dropout, one linear layer.

    Maps for a 224x224 input: 112 (conv1) -> 56 (maxpool1) -> 28 (maxpool2, inception 3) -> 14
    (inception 4) -> 7 (inception 5) -> 1. The auxiliary classifiers sit on inception 4a and 4d and
    run only in training mode, where the model returns :class:`GoogLeNetOutputs`.

    ``cifar_stem=True`` adapts the stem to 32x32 images: conv1 becomes 3x3 with stride 1 and
    maxpool2 is dropped, so inception 3, 4 and 5 work on 16x16, 8x8 and 4x4 maps (the ImageNet stem
    would leave 4x4, 2x2 and 1x1). ``width`` scales every channel count (the quick profile's small
    version); ``dropout`` is the paper's 0.4 (torchvision uses 0.2).
    """

    def __init__(
        self, num_classes: int = 1000, *, aux_logits: bool = True, branch3_kernel: int = 5, cifar_stem: bool = False,
        width: float = 1.0, dropout: float = 0.4, dropout_aux: float = 0.7,
    ) -> None:  # fmt: skip
        super().__init__()

        def scaled(channels: int) -> int:
            return max(1, round(channels * width))

        self.aux_logits = aux_logits
        if cifar_stem:
            self.conv1 = BasicConv2d(3, scaled(64), kernel_size=3, stride=1, padding=1)
        else:
            self.conv1 = BasicConv2d(3, scaled(64), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(scaled(64), scaled(64), kernel_size=1)
        self.conv3 = BasicConv2d(scaled(64), scaled(192), kernel_size=3, padding=1)
        self.maxpool2 = nn.Identity() if cifar_stem else nn.MaxPool2d(3, stride=2, ceil_mode=True)

        channels = scaled(192)
        outputs: dict[str, int] = {}
        for name, config in INCEPTION_CONFIGS.items():
            widths = [scaled(value) for value in config]
            setattr(self, f"inception{name}", Inception(channels, *widths, branch3_kernel=branch3_kernel))
            channels = outputs[name] = widths[0] + widths[2] + widths[4] + widths[5]
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)

        aux = {"channels": scaled(128), "hidden": scaled(1024), "dropout": dropout_aux}
        self.aux1 = InceptionAux(outputs["4a"], num_classes, **aux) if aux_logits else None
        self.aux2 = InceptionAux(outputs["4d"], num_classes, **aux) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels, num_classes)
        initialise(self)

    def forward(self, x: Tensor) -> GoogLeNetOutputs | Tensor:
        x = self.maxpool1(self.conv1(x))  # (N, 64, 56, 56) for 224x224
        x = self.maxpool2(self.conv3(self.conv2(x)))  # (N, 192, 28, 28)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))  # (N, 480, 14, 14)
        x = self.inception4a(x)  # (N, 512, 14, 14)
        aux1 = self.aux1(x) if self.training and self.aux1 is not None else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (N, 528, 14, 14)
        aux2 = self.aux2(x) if self.training and self.aux2 is not None else None
        x = self.maxpool4(self.inception4e(x))  # (N, 832, 7, 7)
        x = self.inception5b(self.inception5a(x))  # (N, 1024, 7, 7)
        logits = self.fc(self.dropout(self.avgpool(x).flatten(1)))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


def initialise(model: nn.Module) -> None:
    """torchvision's initialisation: truncated normal (std 0.01) weights, batch norm at weight 1 and bias 0."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, mean=0.0, std=0.01, a=-2, b=2)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
