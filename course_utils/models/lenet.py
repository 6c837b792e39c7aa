"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998) and the two LeNets of the course's lecture.

- :class:`LeNet5`: LeNet-5 as it is usually rebuilt today: tanh, average pooling, C5 as a 5x5
  convolution, F6 with 84 units and a linear output layer. 61,706 parameters at 1x32x32, 10 classes.
- :class:`LeNet5Paper`: the network exactly as the paper counts it: C3 connected to only some S2 maps
  (:data:`C3_CONNECTIONS`), subsampling with a trainable coefficient and bias per map, and an RBF
  output layer whose parameters are fixed. 60,000 trainable parameters.
- :class:`LeNet`: the lecture's variant for colour photos (its table 6-1): 32x32 input, ReLU, max
  pooling, fully connected 120-84-2.
- :class:`LeNet224`: the textbook's "LeNet" for 224x224 photos, whose first linear layer alone has
  46,023,168 parameters: why linear layers on large feature maps explode.

Every model returns logits (one raw score per class): train with ``nn.CrossEntropyLoss`` and apply
``softmax`` only to read probabilities.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip
"""The S2 maps each of the 16 C3 maps reads (Table I of the paper): 6 read 3 neighbouring maps, 6 read 4
neighbouring maps, 3 read 4 maps that are not all neighbours, and 1 reads all 6 (60 connections, not 96)."""


class LeNet5(nn.Module):
    """LeNet-5 as usually rebuilt from the paper: 1x32x32 input, 61,706 parameters for 10 classes.

    C1 6@28x28 (5x5 conv) -> S2 6@14x14 (2x2 average pool) -> C3 16@10x10 (5x5 conv) -> S4 16@5x5
    -> C5 120@1x1 (a 5x5 conv over the 5x5 maps: one value per filter) -> F6 84 -> output, with tanh
    after C1, C3, C5 and F6. It simplifies the paper in three places (see :class:`LeNet5Paper`):
    C3 reads all six S2 maps, S2/S4 just average, and the output is a linear layer, not an RBF.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                c1=nn.Conv2d(in_channels, 6, kernel_size=5),  # 32x32 -> 28x28
                tanh1=nn.Tanh(),
                s2=nn.AvgPool2d(kernel_size=2, stride=2),  # -> 14x14
                c3=nn.Conv2d(6, 16, kernel_size=5),  # -> 10x10
                tanh3=nn.Tanh(),
                s4=nn.AvgPool2d(kernel_size=2, stride=2),  # -> 5x5
                c5=nn.Conv2d(16, 120, kernel_size=5),  # -> 1x1
                tanh5=nn.Tanh(),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(f6=nn.Linear(120, 84), tanh6=nn.Tanh(), output=nn.Linear(84, num_classes))
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 120, 1, 1) for 32x32 inputs
        return self.classifier(x.flatten(1))  # (N, num_classes) logits


class ScaledTanh(nn.Module):
    """The paper's squashing function ``1.7159 * tanh(2/3 * a)``: f(1) = 1 and f(-1) = -1."""

    def forward(self, x: Tensor) -> Tensor:
        return 1.7159 * torch.tanh(2 / 3 * x)


class Subsampling(nn.Module):
    """S2/S4 of the paper: the sum of each 2x2 window times a trainable coefficient, plus a trainable
    bias, one pair per map (2 parameters per map)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        window_sum = 4 * self.pool(x)
        return window_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SparseC3(nn.Module):
    """C3 of the paper: 16 maps of 5x5 convolutions, map ``i`` reading only the S2 maps in
    ``connections[i]``, so it has 1,516 parameters instead of a full layer's 2,416."""

    def __init__(self, connections: tuple[tuple[int, ...], ...] = C3_CONNECTIONS, kernel_size: int = 5) -> None:
        super().__init__()
        self.connections = connections
        self.maps = nn.ModuleList(nn.Conv2d(len(inputs), 1, kernel_size) for inputs in connections)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([conv(x[:, list(inputs)]) for conv, inputs in zip(self.maps, self.connections)], dim=1)


class RBFOutput(nn.Module):
    """The paper's output layer: for each class, the squared distance between F6's 84 values and a
    fixed code of +1/-1 (a buffer, not a parameter: nothing here is trained).

    The paper drew its codes as 7x12 bitmaps of the characters; here they are random signs fixed by
    ``seed``. The model returns minus the distance, so the largest value is the predicted class.
    """

    def __init__(self, in_features: int = 84, num_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        signs = torch.randint(0, 2, (num_classes, in_features), generator=torch.Generator().manual_seed(seed))
        self.register_buffer("codes", signs.float() * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        return -((x.unsqueeze(1) - self.codes) ** 2).sum(dim=2)


class LeNet5Paper(nn.Module):
    """LeNet-5 exactly as the 1998 paper counts it: 60,000 trainable parameters (1x32x32, 10 classes).

    C1 156 + S2 12 + C3 1,516 + S4 32 + C5 48,120 + F6 10,164 = 60,000; the RBF output's 840 code
    values are fixed. Compared with :class:`LeNet5` (61,706): C3 has 900 fewer weights, S2/S4 have 44
    more parameters, and the output has no 850 trainable ones (61,706 - 900 + 44 - 850 = 60,000).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                c1=nn.Conv2d(in_channels, 6, kernel_size=5),
                squash1=ScaledTanh(),
                s2=Subsampling(6),
                squash2=ScaledTanh(),
                c3=SparseC3(),
                squash3=ScaledTanh(),
                s4=Subsampling(16),
                squash4=ScaledTanh(),
                c5=nn.Conv2d(16, 120, kernel_size=5),
                squash5=ScaledTanh(),
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(f6=nn.Linear(120, 84), squash6=ScaledTanh(), output=RBFOutput(84, num_classes))
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))  # (N, num_classes): minus each RBF distance


class LeNet(nn.Module):
    """The lecture's LeNet for cats vs dogs (its table 6-1): 3x32x32 photos, ReLU and max pooling.

    conv 6@28x28 (5x5) -> max pool 6@14x14 -> conv 16@10x10 (5x5) -> max pool 16@5x5 -> linear
    120 -> 84 -> ``num_classes``. The table ends in a softmax: here the model returns logits, because
    ``nn.CrossEntropyLoss`` applies log-softmax itself; take ``softmax(logits, dim=1)`` for probabilities.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 6, kernel_size=5),  # 32x32 -> 28x28
                relu1=nn.ReLU(inplace=True),
                pool1=nn.MaxPool2d(kernel_size=2, stride=2),  # -> 14x14
                conv2=nn.Conv2d(6, 16, kernel_size=5),  # -> 10x10
                relu2=nn.ReLU(inplace=True),
                pool2=nn.MaxPool2d(kernel_size=2, stride=2),  # -> 5x5
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(16 * 5 * 5, 120),
                relu1=nn.ReLU(inplace=True),
                fc2=nn.Linear(120, 84),
                relu2=nn.ReLU(inplace=True),
                fc3=nn.Linear(84, num_classes),
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 16, 5, 5)
        return self.classifier(x.flatten(1))  # (N, num_classes) logits


class LeNet224(nn.Module):
    """The textbook's "LeNet" for 3x224x224 photos: 46,038,242 parameters, 46,023,168 of them in ``fc1``.

    conv 16@220x220 (5x5) -> max pool 16@110x110 -> conv 32@106x106 (5x5) -> max pool 32@53x53 ->
    linear 32*53*53 = 89,888 -> 512 -> ``num_classes``. The convolutions hold 14,048 parameters; the
    linear layer on the 53x53 maps holds 89,888 x 512 weights. (The textbook has no activation between
    its two linear layers, which makes them one linear map; a ReLU here adds no parameters.)
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 16, kernel_size=5),  # 224x224 -> 220x220
                relu1=nn.ReLU(inplace=True),
                pool1=nn.MaxPool2d(kernel_size=2, stride=2),  # -> 110x110
                conv2=nn.Conv2d(16, 32, kernel_size=5),  # -> 106x106
                relu2=nn.ReLU(inplace=True),
                pool2=nn.MaxPool2d(kernel_size=2, stride=2),  # -> 53x53
            )
        )
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(32 * 53 * 53, 512), relu=nn.ReLU(inplace=True), fc2=nn.Linear(512, num_classes)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))
