"""Grad-CAM (Selvaraju et al., 2017): which part of a photo made the network choose a class.

The last convolutional stage still has a map of positions (7x7 for ResNet-50 at 224, 8x8 for the
CIFAR ResNet-20 at 32). Grad-CAM weights each of its channels by how much the class score grows
with that channel (the gradient, averaged over the map), adds the weighted channels, keeps the
positive part and scales it up to the photo::

    cam = cu.gradcam.grad_cam(model, image, "layer4")           # cam.heatmap: (H, W) in [0, 1]
    cu.gradcam.show_grad_cam(model, images, "layer4", classes, transform=data.test.transform)

The score is the model's output for the class: a logit, or a log-probability (a LogSoftmax head),
whose gradient is the class's evidence against the others; both give the same map for two classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from .inspection import find_layer, model_device, preserved_state
from .plotting import CORRECT_COLOR, WRONG_COLOR, _class_name, _grid, _normalization, _titled, to_display_array


class GradCam(NamedTuple):
    """One image's Grad-CAM: ``heatmap`` ``(H, W)`` in [0, 1] at the image's size, the class it explains,
    and the probability the model gives that class."""

    heatmap: torch.Tensor
    class_index: int
    probability: float


def grad_cam(model: nn.Module, image: torch.Tensor, layer: str | nn.Module, class_index: int | None = None) -> GradCam:
    """Grad-CAM of ``image`` ``(C, H, W)`` (already transformed) at ``layer``, for ``class_index`` (default: the predicted class).

    Runs in eval mode with hooks that are removed afterwards; the model's modes, buffers and
    parameter gradients are left as they were (frozen parameters work too: the gradient is taken
    with respect to the layer's output, not the weights).
    """
    name, module = find_layer(model, layer)
    if image.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got shape {tuple(image.shape)}")
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    x = image.detach().to(model_device(model)).unsqueeze(0).requires_grad_(True)  # so the graph reaches the layer
    try:
        with preserved_state(model, training=False), torch.enable_grad():
            scores = model(x)
            if not captured or not isinstance(captured[0], torch.Tensor) or captured[0].ndim != 4:
                raise ValueError(f"layer {name!r} gave no (N, C, H, W) output in the forward pass")
            activations = captured[0]
            chosen = int(scores[0].argmax()) if class_index is None else int(class_index)
            (gradients,) = torch.autograd.grad(scores[0, chosen], activations)
    finally:
        handle.remove()
    channel_weights = gradients[0].mean(dim=(1, 2))  # how much the score grows with each channel
    cam = F.relu((channel_weights[:, None, None] * activations[0]).sum(dim=0)).detach()
    cam = F.interpolate(cam[None, None], size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam / cam.max() if cam.max() > 0 else cam
    probability = float(torch.softmax(scores[0].detach().float(), dim=0)[chosen])  # softmax of log-probabilities = probabilities
    return GradCam(cam.cpu(), chosen, probability)


def show_grad_cam(
    model: nn.Module,
    images: torch.Tensor | Sequence[torch.Tensor],
    layer: str | nn.Module,
    classes: Sequence[str],
    *,
    labels: Sequence[int] | torch.Tensor | None = None,
    transform: Any = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    alpha: float = 0.5,
    ncols: int = 4,
    title: str | None = None,
) -> Figure:
    """Each photo with its Grad-CAM heat map laid over it (red: what the predicted class rests on).

    ``transform`` (or the dataset) says which normalisation to undo for display, as in
    :func:`course_utils.plotting.show_batch`; ``labels`` colour the titles green (right) or red (wrong).
    """
    items = list(images)
    mean, std = _normalization(transform, mean, std)
    truth = labels.tolist() if isinstance(labels, torch.Tensor) else labels
    fig, axes = _grid(len(items), ncols, cell=(2.8, 3.1))
    for index, (ax, image) in enumerate(zip(axes, items)):
        cam = grad_cam(model, image, layer)
        ax.imshow(to_display_array(image, mean=mean, std=std))
        ax.imshow(cam.heatmap.numpy(), cmap="jet", alpha=alpha, vmin=0.0, vmax=1.0)
        text, color = f"pred: {_class_name(cam.class_index, classes)} ({cam.probability:.0%})", "black"
        if truth is not None:
            right = int(truth[index]) == cam.class_index
            text += f"\ntrue: {_class_name(truth[index], classes)}"
            color = CORRECT_COLOR if right else WRONG_COLOR
        ax.set_title(text, color=color, fontsize=10)
    layer_name = layer if isinstance(layer, str) else find_layer(model, layer)[0]
    return _titled(fig, title or f"Grad-CAM at '{layer_name}': where the evidence for the predicted class lies")


def heat_share(heatmap: torch.Tensor | np.ndarray, rows: slice, cols: slice = slice(None)) -> float:
    """The share of a heat map's total inside a region, e.g. ``heat_share(cam.heatmap, slice(0, 8))``: the top 8 rows."""
    heat = torch.as_tensor(heatmap, dtype=torch.float32)
    total = float(heat.sum())
    return float(heat[rows, cols].sum()) / total if total > 0 else 0.0
