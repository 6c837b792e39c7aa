"""ResNet (He et al., 2015) for ImageNet-sized inputs, layer for layer as ``torchvision.models.resnet``.

The names of every layer (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``)
match torchvision's, so a torchvision state dict loads with ``strict=True`` and the course can use
ImageNet weights in its own code. ``stride_in_1x1=True`` moves a bottleneck's downsampling stride
from the 3x3 convolution (torchvision, "ResNet v1.5") to the first 1x1 convolution (the paper).
"""

from __future__ import annotations

from torch import Tensor, nn

LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
"""Blocks per stage (conv2_x ... conv5_x) for each depth: Table 1 of the paper."""


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution that keeps the size (padding 1) unless ``stride`` > 1; no bias (batch norm follows)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution: mixes channels at each pixel (and subsamples when ``stride`` > 1)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """The shortcut when the shape changes: a strided 1x1 convolution and batch norm (option B)."""
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: ``relu(F(x) + x)`` (ResNet-18/34, CIFAR ResNets)."""

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample
        """Makes ``x`` the shape of ``F(x)`` when the block changes size or width (``None``: identity)."""

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 -> 1x1 (expand x4) and a shortcut (ResNet-50/101/152).

    The 1x1 layers let the 3x3 convolution work on a quarter of the channels, so a deep network
    costs about what a shallow one of 3x3 layers would.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels, stride if stride_in_1x1 else 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, 1 if stride_in_1x1 else stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = conv1x1(channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), four stages of blocks, global average pooling, one linear layer.

    Feature maps for a 224x224 input: 112 (conv1) -> 56 (maxpool, layer1) -> 28 (layer2) -> 14 (layer3)
    -> 7 (layer4) -> 1 (avgpool). The first block of layers 2-4 halves the size and has a projection shortcut.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        self.stride_in_1x1 = stride_in_1x1
        self.in_channels = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        initialise(self)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], channels: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: a first block that may change size and width (projection shortcut), then identity blocks."""
        out_channels = channels * block.expansion
        downsample = None
        if stride != 1 or self.in_channels != out_channels:
            downsample = projection_shortcut(self.in_channels, out_channels, stride)
        extra = {"stride_in_1x1": self.stride_in_1x1} if block is Bottleneck else {}
        stage = [block(self.in_channels, channels, stride, downsample, **extra)]
        self.in_channels = out_channels
        stage += [block(out_channels, channels, **extra) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward_features(self, x: Tensor) -> Tensor:
        """Everything before the classifier: the pooled feature vector (512 or 2048 numbers per image)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


def initialise(model: nn.Module) -> None:
    """He (Kaiming) normal initialisation for convolutions, batch norm at weight 1 and bias 0 (as torchvision)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)


def resnet(depth: int, num_classes: int = 1000, *, stride_in_1x1: bool = False) -> ResNet:
    """ResNet-18/34 (basic blocks) or ResNet-50/101/152 (bottlenecks), from the layer table :data:`LAYERS`."""
    if depth not in LAYERS:
        raise ValueError(f"ResNet depth must be one of {sorted(LAYERS)}, not {depth}")
    block = BasicBlock if depth < 50 else Bottleneck
    return ResNet(block, LAYERS[depth], num_classes, stride_in_1x1=stride_in_1x1)
