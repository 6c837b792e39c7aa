"""SimpleCNN, the first network of notebook 01: three conv blocks and a linear classifier (32x32 inputs)."""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (size kept by padding 1), batch norm, ReLU, then 2x2 max pooling (size halved).

    The layers have names: ``block.conv``, ``block.bn``, ``block.relu``, ``block.pool``.
    """
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            bn=nn.BatchNorm2d(out_channels),
            relu=nn.ReLU(inplace=True),
            pool=nn.MaxPool2d(kernel_size=2, stride=2),
        )
    )


class SimpleCNN(nn.Module):
    """Three conv blocks, global average pooling and one linear layer.

    Each block halves the feature map and widens the channels (32 -> 16 -> 8 -> 4 pixels),
    which is the feature hierarchy the lecture describes: edges, then parts, then objects.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        self.block1 = conv_block(in_channels, widths[0])
        self.block2 = conv_block(widths[0], widths[1])
        self.block3 = conv_block(widths[1], widths[2])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(widths[2], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block1(x)  # (N, 32, 16, 16) for 32x32 inputs
        x = self.block2(x)  # (N, 64, 8, 8)
        x = self.block3(x)  # (N, 128, 4, 4)
        x = self.pool(x).flatten(1)  # (N, 128): each channel's average
        return self.classifier(x)  # (N, num_classes): one score (logit) per class
