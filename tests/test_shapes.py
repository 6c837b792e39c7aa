"""The output-size formula (W - F + 2P) / S + 1 agrees with real PyTorch layers."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from course_utils.shapes import conv_output_size, pool_output_size


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
