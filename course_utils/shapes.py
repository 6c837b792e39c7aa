"""Size arithmetic of convolution and pooling layers: output size (W - F + 2P) / S + 1 and receptive field."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from torch import nn


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Width (or height) after a convolution: floor((W - F + 2P) / S) + 1, with F the dilated kernel."""
    effective_kernel = dilation * (kernel - 1) + 1
    span = size + 2 * padding - effective_kernel
    if span < 0:
        raise ValueError(f"kernel {kernel} (dilation {dilation}) does not fit an input of {size} with padding {padding}")
    return span // stride + 1


def pool_output_size(size: int, kernel: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False) -> int:
    """Width (or height) after max/average pooling; the stride defaults to the kernel size, as in PyTorch."""
    stride = kernel if stride is None else stride
    span = size + 2 * padding - kernel
    if span < 0:
        raise ValueError(f"pooling window {kernel} does not fit an input of {size} with padding {padding}")
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    # PyTorch drops a last window that would start entirely inside the right padding.
    return out - 1 if (out - 1) * stride >= size + padding else out


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def layer_output_shape(layer: nn.Module, input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` after a ``Conv2d``, ``MaxPool2d`` or ``AvgPool2d``, by the formula and the layer's settings."""
    channels, height, width = input_shape[-3:]
    if isinstance(layer, nn.Conv2d):
        if layer.padding == "same":
            return layer.out_channels, height, width
        padding = (0, 0) if layer.padding == "valid" else _pair(layer.padding)
        sizes = [
            conv_output_size(size, kernel, stride, pad, dilation)
            for size, kernel, stride, pad, dilation in zip(
                (height, width), _pair(layer.kernel_size), _pair(layer.stride), padding, _pair(layer.dilation)
            )
        ]
        return layer.out_channels, sizes[0], sizes[1]
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        if _pair(getattr(layer, "dilation", 1)) != (1, 1):
            raise ValueError("pool_output_size has no dilation")
        sizes = [
            pool_output_size(size, kernel, stride, pad, layer.ceil_mode)
            for size, kernel, stride, pad in zip(
                (height, width), _pair(layer.kernel_size), _pair(layer.stride or layer.kernel_size), _pair(layer.padding)
            )
        ]
        return channels, sizes[0], sizes[1]
    raise TypeError(f"no output-size formula for {type(layer).__name__}: only Conv2d, MaxPool2d and AvgPool2d")


def receptive_field(layers: nn.Module | Iterable[tuple[int, int] | nn.Module]) -> int:
    """Width of the input patch one output pixel of a stack of layers sees, by the formula.

    ``layers`` are ``(kernel, stride)`` pairs or modules in the order they run, or one module whose
    layers run one after another (a ``Sequential``, a conv block). Each layer adds ``(kernel - 1) x``
    the product of the strides before it; layers without a kernel (batch norm, ReLU) add nothing,
    a dilated kernel counts its span.
    """
    field, jump = 1, 1
    for layer in [layers] if isinstance(layers, nn.Module) else layers:
        for kernel, stride in _kernels_and_strides(layer):
            field, jump = field + (kernel - 1) * jump, jump * stride
    return field


def _kernels_and_strides(layer: tuple[int, int] | nn.Module) -> list[tuple[int, int]]:
    """``(kernel span, stride)`` along the width for a pair, a layer, or each layer of a container."""
    if not isinstance(layer, nn.Module):
        kernel, stride = layer
        return [(int(kernel), int(stride))]
    children = list(layer.children())
    if children:
        return [pair for child in children for pair in _kernels_and_strides(child)]
    if isinstance(layer, (nn.Linear, nn.Flatten, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        raise ValueError(f"{type(layer).__name__} sees its whole input: a receptive field ends before it")
    if not hasattr(layer, "kernel_size"):
        return []
    kernel = _pair(layer.kernel_size)[1]
    dilation = _pair(getattr(layer, "dilation", 1))[1]
    return [(dilation * (kernel - 1) + 1, _pair(layer.stride or layer.kernel_size)[1])]
