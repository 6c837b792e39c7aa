"""The CIFAR-10 ResNets of the paper's section 4.2, and the "plain" networks they are compared with.

6n + 2 weighted layers: a 3x3 convolution with 16 filters, three stages of n blocks on 32x32,
16x16 and 8x8 maps with 16, 32 and 64 filters, global average pooling and a 10-way linear layer.
Shortcuts that change shape use option A: subsample by 2 and pad the new channels with zeros, so
they add no parameters (ResNet-20: 269,722 parameters; ResNet-56: 853,018). A plain network is the
same stack with every shortcut removed.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .resnet import BasicBlock, conv3x3, initialise


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: keep every ``stride``-th pixel and add zero channels up to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra_channels // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))


class PlainBlock(BasicBlock):
    """A :class:`BasicBlock` without its shortcut: ``relu(bn(conv(relu(bn(conv(x))))))``."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__(in_channels, channels, stride, downsample=None)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images; ``residual=False`` builds the plain network of the same depth."""

    def __init__(self, depth: int = 20, num_classes: int = 10, *, residual: bool = True, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"a CIFAR ResNet has 6n + 2 layers (20, 32, 44, 56, 110, ...), not {depth}")
        self.depth = depth
        self.residual = residual
        blocks = (depth - 2) // 6
        self.in_channels = widths[0]
        self.conv1 = conv3x3(3, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(widths[0], blocks, stride=1)
        self.layer2 = self._make_layer(widths[1], blocks, stride=2)
        self.layer3 = self._make_layer(widths[2], blocks, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], num_classes)
        initialise(self)

    def _make_layer(self, channels: int, blocks: int, stride: int) -> nn.Sequential:
        stage = []
        for index in range(blocks):
            block_stride = stride if index == 0 else 1
            if not self.residual:
                stage.append(PlainBlock(self.in_channels, channels, block_stride))
            else:
                downsample = None
                if block_stride != 1 or self.in_channels != channels:
                    downsample = ZeroPadShortcut(self.in_channels, channels, block_stride)
                stage.append(BasicBlock(self.in_channels, channels, block_stride, downsample))
            self.in_channels = channels
        return nn.Sequential(*stage)

    def forward_features(self, x: Tensor) -> Tensor:
        """The pooled 64-number feature vector of each image (what transfer learning reuses)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.avgpool(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.forward_features(x))


def cifar_resnet(depth: int = 20, num_classes: int = 10) -> CifarResNet:
    """ResNet-20/32/44/56/110 for CIFAR-10 (option A shortcuts)."""
    return CifarResNet(depth, num_classes, residual=True)


def cifar_plain(depth: int = 20, num_classes: int = 10) -> CifarResNet:
    """The plain (no shortcut) network with the same layers as :func:`cifar_resnet`."""
    return CifarResNet(depth, num_classes, residual=False)
