"""Output-size arithmetic of convolution and pooling layers: (W - F + 2P) / S + 1."""

from __future__ import annotations

import math


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
