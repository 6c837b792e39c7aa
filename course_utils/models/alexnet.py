"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) as in the paper: on one device with grouped
convolutions, or split across two devices as the paper trained it on two GTX 580 GPUs.

- :class:`AlexNet`: 227x227 input, five convolutions of 96-256-384-384-256 filters, local response
  normalisation, overlapping 3x3 max pooling with stride 2, two 4096-unit linear layers with
  dropout 0.5. 60,965,224 parameters for 1000 classes. ``grouped=True`` (the paper) lets conv2, conv4
  and conv5 see only the half of the channels that "lives on the same GPU" (``groups=2``);
  ``grouped=False`` connects every channel (62,378,344 parameters).
- :class:`AlexNetTwoTowers`: the same network as two towers on two devices, talking to each other only
  at conv3 and the linear layers; :meth:`AlexNetTwoTowers.from_grouped` copies an :class:`AlexNet`'s
  weights, and both then compute the same outputs.

torchvision's ``alexnet`` (61,100,840 parameters) is a different, later design ("One weird trick",
Krizhevsky 2014): one GPU, 64-192-384-256-256 filters, no normalisation layers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

PAPER_WIDTHS = (96, 256, 384, 384, 256)
"""Filters of conv1..conv5 in the paper (half of them on each GPU)."""
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0
"""The paper's response normalisation: b = a / (k + alpha * sum of a^2 over 5 neighbouring maps) ** beta."""


class LocalResponseNorm(nn.Module):
    """The paper's local response normalisation, within each of ``groups`` channel groups (one per GPU).

    PyTorch's ``nn.LocalResponseNorm`` divides ``alpha`` by ``size``; the paper does not, so the layer
    gets ``alpha * size``. With ``groups=2`` a map is normalised by its neighbours on the same GPU only.
    """

    def __init__(self, groups: int = 1, size: int = LRN_SIZE, alpha: float = LRN_ALPHA, beta: float = LRN_BETA,
                 k: float = LRN_K) -> None:  # fmt: skip
        super().__init__()
        self.groups = groups
        self.lrn = nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.lrn(part) for part in x.chunk(self.groups, dim=1)], dim=1)


def initialise(model: nn.Module) -> None:
    """He (Kaiming) normal weights for every convolution and linear layer, biases 0.

    Each layer then keeps the scale of its input through the ReLUs, so training starts at once on inputs
    normalised to mean 0 and standard deviation 1. The paper drew weights from N(0, 0.01) and set some
    biases to 1, for raw pixel values minus their mean (a standard deviation of about 60, not 1).
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


class AlexNet(nn.Module):
    """AlexNet as in the 2012 paper: 3x227x227 input, 60,965,224 parameters for 1000 classes.

    conv1 96@55x55 (11x11, stride 4) -> LRN -> max pool 27x27 -> conv2 256@27x27 (5x5) -> LRN -> max
    pool 13x13 -> conv3 384 -> conv4 384 -> conv5 256 (3x3, 13x13) -> max pool 256@6x6 -> fc6 4096 ->
    fc7 4096 -> fc8 ``num_classes``, ReLU after every layer but fc8, dropout on the outputs of fc6 and fc7.
    The pools are 3x3 with stride 2: neighbouring windows overlap by one pixel.

    ``widths`` (conv1..conv5 filters) and ``hidden`` (fc6/fc7 units) default to the paper's; smaller
    ones make the same design cheap enough for a CPU. ``avgpool`` is not in the paper: at 227x227
    conv5's pooled maps are already 6x6 and it changes nothing; at other sizes it averages them to
    6x6, so fc6 always gets its 9,216 inputs.
    """

    def __init__(self, num_classes: int = 1000, *, grouped: bool = True, widths: Sequence[int] = PAPER_WIDTHS,
                 hidden: int = 4096, dropout: float = 0.5) -> None:  # fmt: skip
        super().__init__()
        groups = 2 if grouped else 1
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, c1, kernel_size=11, stride=4),  # 227x227 -> 55x55
                relu1=nn.ReLU(inplace=True),
                norm1=LocalResponseNorm(groups),
                pool1=nn.MaxPool2d(kernel_size=3, stride=2),  # -> 27x27
                conv2=nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups),
                relu2=nn.ReLU(inplace=True),
                norm2=LocalResponseNorm(groups),
                pool2=nn.MaxPool2d(kernel_size=3, stride=2),  # -> 13x13
                conv3=nn.Conv2d(c2, c3, kernel_size=3, padding=1),  # reads both halves
                relu3=nn.ReLU(inplace=True),
                conv4=nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups),
                relu4=nn.ReLU(inplace=True),
                conv5=nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups),
                relu5=nn.ReLU(inplace=True),
                pool5=nn.MaxPool2d(kernel_size=3, stride=2),  # -> 6x6
            )
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            OrderedDict(
                fc6=nn.Linear(c5 * 6 * 6, hidden),
                relu6=nn.ReLU(inplace=True),
                dropout6=nn.Dropout(dropout),
                fc7=nn.Linear(hidden, hidden),
                relu7=nn.ReLU(inplace=True),
                dropout7=nn.Dropout(dropout),
                fc8=nn.Linear(hidden, num_classes),
            )
        )
        initialise(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 256, 6, 6) for 227x227 inputs
        x = self.avgpool(x).flatten(1)  # (N, 256 * 6 * 6 = 9216)
        return self.classifier(x)  # (N, num_classes) logits


def _tower(widths: Sequence[int], hidden: int, dropout: float) -> nn.ModuleDict:
    """One GPU's half of AlexNet: half of every layer's filters and units (48-128-192-192-128, 2048)."""
    c1, c2, c3, c4, c5 = (width // 2 for width in widths)
    return nn.ModuleDict(
        OrderedDict(
            conv1=nn.Conv2d(3, c1, kernel_size=11, stride=4),
            norm1=LocalResponseNorm(1),
            conv2=nn.Conv2d(c1, c2, kernel_size=5, padding=2),
            norm2=LocalResponseNorm(1),
            conv3=nn.Conv2d(2 * c2, c3, kernel_size=3, padding=1),  # both towers' conv2 maps
            conv4=nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            conv5=nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            pool=nn.MaxPool2d(kernel_size=3, stride=2),
            avgpool=nn.AdaptiveAvgPool2d((6, 6)),
            fc6=nn.Linear(2 * c5 * 6 * 6, hidden // 2),  # both towers' conv5 maps
            fc7=nn.Linear(hidden, hidden // 2),  # both towers' fc6 units
            relu=nn.ReLU(),
            dropout=nn.Dropout(dropout),
        )
    )


class AlexNetTwoTowers(nn.Module):
    """AlexNet split over two devices as in the paper: tower ``a`` on ``devices[0]``, ``b`` on ``devices[1]``.

    Each tower holds half of every layer. The towers exchange their maps before conv3, fc6 and fc7, and
    fc8 (on ``devices[0]``) reads both; everywhere else each tower works alone, which is what
    ``groups=2`` reproduces on one device. ``devices=("cpu", "cpu")`` runs it anywhere.
    """

    def __init__(self, num_classes: int = 1000, devices: Sequence[str | torch.device] = ("cuda:0", "cuda:1"), *,
                 widths: Sequence[int] = PAPER_WIDTHS, hidden: int = 4096, dropout: float = 0.5) -> None:  # fmt: skip
        super().__init__()
        self.devices = [torch.device(device) for device in devices]
        self.a = _tower(widths, hidden, dropout).to(self.devices[0])
        self.b = _tower(widths, hidden, dropout).to(self.devices[1])
        self.fc8 = nn.Linear(hidden, num_classes).to(self.devices[0])
        initialise(self)

    @staticmethod
    def _exchange(x_a: Tensor, x_b: Tensor) -> tuple[Tensor, Tensor]:
        """Both towers' outputs side by side (tower ``a``'s channels or units first), on each tower's device."""
        return torch.cat([x_a, x_b.to(x_a.device)], dim=1), torch.cat([x_a.to(x_b.device), x_b], dim=1)

    @staticmethod
    def _conv1_conv2(t: nn.ModuleDict, x: Tensor) -> Tensor:
        """conv1 -> LRN -> pool -> conv2 -> LRN -> pool, each tower on its own."""
        x = t.pool(t.norm1(t.relu(t.conv1(x))))
        return t.pool(t.norm2(t.relu(t.conv2(x))))

    @staticmethod
    def _conv3_conv5(t: nn.ModuleDict, x: Tensor) -> Tensor:
        """conv3 (reading both towers' maps) -> conv4 -> conv5 -> pool, flattened."""
        x = t.relu(t.conv4(t.relu(t.conv3(x))))
        return t.avgpool(t.pool(t.relu(t.conv5(x)))).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.a, self.b
        x_a = self._conv1_conv2(a, x.to(self.devices[0]))  # (N, 128, 13, 13) on device a
        x_b = self._conv1_conv2(b, x.to(self.devices[1]))  # (N, 128, 13, 13) on device b
        x_a, x_b = self._exchange(x_a, x_b)  # both: (N, 256, 13, 13)
        x_a, x_b = self._conv3_conv5(a, x_a), self._conv3_conv5(b, x_b)  # (N, 4608) each
        x_a, x_b = self._exchange(x_a, x_b)  # both: (N, 9216)
        x_a, x_b = a.dropout(a.relu(a.fc6(x_a))), b.dropout(b.relu(b.fc6(x_b)))  # (N, 2048) each
        x_a, x_b = self._exchange(x_a, x_b)
        x_a, x_b = a.dropout(a.relu(a.fc7(x_a))), b.dropout(b.relu(b.fc7(x_b)))
        return self.fc8(torch.cat([x_a, x_b.to(x_a.device)], dim=1))  # on device a

    @classmethod
    def from_grouped(
        cls, model: nn.Module, devices: Sequence[str | torch.device] = ("cuda:0", "cuda:1")
    ) -> "AlexNetTwoTowers":
        """Two towers holding a grouped :class:`AlexNet`'s weights: the first half of every layer's filters
        (and units) goes to tower ``a``, the second half to tower ``b``."""
        conv2 = model.features.conv2
        if conv2.groups != 2:
            raise ValueError("only a grouped AlexNet (grouped=True) splits into two towers")
        widths = [model.features.get_submodule(f"conv{i}").out_channels for i in range(1, 6)]
        fc8 = model.classifier.fc8
        dropout = model.classifier.dropout6.p
        towers = cls(fc8.out_features, devices, widths=widths, hidden=fc8.in_features, dropout=dropout)
        layers = {name: model.features.get_submodule(name) for name in ("conv1", "conv2", "conv3", "conv4", "conv5")}
        layers.update(fc6=model.classifier.fc6, fc7=model.classifier.fc7)
        with torch.no_grad():
            for name, layer in layers.items():
                for half, tower in zip((0, 1), (towers.a, towers.b)):
                    for tensor_name in ("weight", "bias"):
                        whole = getattr(layer, tensor_name)
                        part = whole.chunk(2, dim=0)[half]  # output filters/units of this half
                        getattr(tower[name], tensor_name).copy_(part)
            towers.fc8.load_state_dict(model.classifier.fc8.state_dict())
        return towers
