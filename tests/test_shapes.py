"""The output-size formula (W - F + 2P) / S + 1 and the receptive field agree with real PyTorch layers."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course_utils.models import SimpleCNN
from course_utils.shapes import conv_output_size, layer_output_shape, pool_output_size, receptive_field


@pytest.mark.parametrize("size", [5, 7, 28, 32, 227])
def test_conv_formula_matches_conv2d(size: int) -> None:
    for kernel, stride, padding, dilation in itertools.product([1, 3, 5, 11], [1, 2, 4], [0, 1, 2], [1, 2]):
        if dilation * (kernel - 1) + 1 > size + 2 * padding:
            with pytest.raises(ValueError):
                conv_output_size(size, kernel, stride, padding, dilation)
            continue
        layer = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
        expected = layer(torch.zeros(1, 1, size, size)).shape[-1]
        assert conv_output_size(size, kernel, stride, padding, dilation) == expected, (size, kernel, stride, padding)


@pytest.mark.parametrize("size", [4, 7, 13, 27, 55])
def test_pool_formula_matches_maxpool2d(size: int) -> None:
    for kernel, stride, padding, ceil_mode in itertools.product([2, 3], [None, 1, 2], [0, 1], [False, True]):
        if padding * 2 > kernel:
            continue
        layer = nn.MaxPool2d(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
        expected = layer(torch.zeros(1, 1, size, size)).shape[-1]
        assert pool_output_size(size, kernel, stride, padding, ceil_mode) == expected, (size, kernel, stride, padding, ceil_mode)


def test_lecture_examples() -> None:
    assert conv_output_size(32, 5, padding=2) == 32  # 32x32x3 with two zero borders and 5x5 filters
    assert conv_output_size(227, 11, stride=4) == 55  # AlexNet conv1
    assert conv_output_size(32, 5) == 28 and pool_output_size(28, 2) == 14  # LeNet-5 C1, S2


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv2d(3, 8, kernel_size=3, padding=1),
        nn.Conv2d(3, 8, kernel_size=(3, 5), stride=(1, 2), padding=(0, 2)),
        nn.Conv2d(3, 8, kernel_size=11, stride=4, padding=2),  # AlexNet conv1 as torchvision builds it
        nn.Conv2d(3, 8, kernel_size=3, padding="same", dilation=2),
        nn.Conv2d(3, 8, kernel_size=5, padding="valid"),
        nn.Conv2d(3, 8, kernel_size=3, dilation=2, stride=2),
        nn.MaxPool2d(2),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(kernel_size=(2, 3), stride=(2, 1)),
    ],
    ids=repr,
)
def test_layer_output_shape_matches_a_forward_pass(layer: nn.Module) -> None:
    for height, width in [(32, 32), (27, 40), (57, 33)]:
        measured = tuple(layer(torch.zeros(1, 3, height, width)).shape[1:])
        assert layer_output_shape(layer, (3, height, width)) == measured


def test_layer_output_shape_refuses_layers_without_a_formula() -> None:
    with pytest.raises(TypeError, match="ReLU"):
        layer_output_shape(nn.ReLU(), (3, 32, 32))


def test_receptive_field_of_the_lecture_examples() -> None:
    block = [(3, 1), (2, 2)]  # SimpleCNN: conv 3x3, max pool 2x2
    assert [receptive_field(block * depth) for depth in (1, 2, 3)] == [4, 10, 22]
    assert receptive_field([(3, 1)] * 2) == 5 and receptive_field([(3, 1)] * 3) == 7  # VGG: two 3x3 see 5x5, three 7x7
    assert receptive_field([]) == 1


def test_receptive_field_reads_layers_and_containers() -> None:
    model = SimpleCNN()
    assert receptive_field([model.block1]) == 4
    assert receptive_field([model.block1, model.block2, model.block3]) == 22
    alexnet_start = nn.Sequential(nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, stride=2))
    assert receptive_field(alexnet_start) == 11 + (3 - 1) * 4
    assert receptive_field([nn.Conv2d(1, 1, 3, dilation=2)]) == 5
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d"):
        receptive_field(model)
