"""Pictures for the lectures: image batches, predictions, small matrices, training curves, confusion matrices,
filters, feature maps.

Every function returns a matplotlib ``Figure`` made with pyplot and never calls ``plt.show()``.
Jupyter shows pyplot figures by itself at the end of a cell, so in notebooks assign the result
(``fig = show_batch(...)``) or end the line with ``;``: a bare last-line call is shown twice.
Every title ends with :func:`course_utils.session.data_notice`, so a plot of generated stand-in
data always says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter
from PIL import Image
from torch import nn

from .images import load_rgb
from .inspection import find_layer, model_device, preserved_state
from .session import data_notice
from .transforms import normalization_of

ImageLike = torch.Tensor | np.ndarray | Image.Image | str | Path
"""A ``(C, H, W)`` tensor, an ``(H, W[, C])`` array, a PIL image or an image file path."""
Labels = Sequence[int] | Sequence[str] | torch.Tensor | np.ndarray

CORRECT_COLOR = "tab:green"
WRONG_COLOR = "tab:red"
NOTICE_COLOR = "tab:red"
TRAIN_COLOR = "tab:blue"
VAL_COLOR = "tab:orange"
FIGURE_WIDTH = 12.0
"""Widest figure (inches) a grid of filters grows to."""
GAP_COLOR = "#9ecae1"
"""Colour of the gap between a filter's channels (outside the grayscale range, so never a pixel)."""
MAX_FILTER_CHANNELS = 16
"""Channels shown per filter when filters are not RGB."""


# ---------------------------------------------------------------------------------------------
# Shared helpers: one way to turn anything into a displayable image, one grid, one title.
# ---------------------------------------------------------------------------------------------


def denormalize(
    images: torch.Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> torch.Tensor:
    """Undo ``transforms.Normalize(mean, std)`` on a ``(C, H, W)`` or ``(N, C, H, W)`` tensor."""
    images = images.detach().cpu().float()
    if mean is None and std is None:
        return images
    channels = images.shape[-3]
    shape = (channels, 1, 1)
    mean_t = torch.as_tensor(mean if mean is not None else [0.0], dtype=torch.float32).flatten()
    std_t = torch.as_tensor(std if std is not None else [1.0], dtype=torch.float32).flatten()
    for name, values in (("mean", mean_t), ("std", std_t)):
        if values.numel() not in (1, channels):
            raise ValueError(f"{name} has {values.numel()} values but the images have {channels} channels")
    return images * std_t.expand(channels).reshape(shape) + mean_t.expand(channels).reshape(shape)


def to_display_array(
    image: ImageLike, *, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """Turn a tensor, array, PIL image or path into an ``(H, W, 3)`` or ``(H, W)`` float array in [0, 1].

    Tensors are ``(C, H, W)``; arrays ``(H, W)``, ``(H, W, C)`` or ``(C, H, W)``; 8-bit values are
    scaled to [0, 1]; ``mean``/``std`` undo normalisation; values are clamped to [0, 1].
    """
    if isinstance(image, (str, Path)):
        image = load_rgb(image)
    if isinstance(image, Image.Image):
        image = np.asarray(image if image.mode in ("RGB", "L") else image.convert("RGB"))
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 3 and array.shape[-1] in (1, 3, 4) and array.shape[0] not in (1, 3):
            array = array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)
        image = torch.from_numpy(np.ascontiguousarray(array))
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"cannot show a {type(image).__name__} as an image")
    tensor = image.detach().cpu()
    tensor = tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3 or tensor.shape[0] not in (1, 3, 4):
        raise ValueError(f"cannot show an image of shape {tuple(image.shape)}: need (C, H, W) with 1 or 3 channels")
    tensor = denormalize(tensor[:3], mean, std).clamp(0.0, 1.0)
    return tensor[0].numpy() if tensor.shape[0] == 1 else tensor.permute(1, 2, 0).numpy()


def _image_list(images: torch.Tensor | Sequence[ImageLike], max_images: int) -> tuple[list[ImageLike], int]:
    """A batch ``(N, C, H, W)`` or a sequence of images -> (at most ``max_images`` single images, N)."""
    if isinstance(images, torch.Tensor):
        if images.ndim == 3:
            images = images.unsqueeze(0)
        if images.ndim != 4:
            raise ValueError(f"expected a batch (N, C, H, W), got shape {tuple(images.shape)}")
    return [images[i] for i in range(min(len(images), max_images))], len(images)


def _label_list(labels: Labels | None, count: int) -> list[Any] | None:
    if labels is None:
        return None
    if isinstance(labels, (torch.Tensor, np.ndarray)):
        labels = labels.tolist()
    return list(labels)[:count]


def _class_name(label: Any, classes: Sequence[str] | None) -> str:
    """A class index to its name (names pass through unchanged)."""
    if isinstance(label, str):
        return label
    index = int(label)
    return classes[index] if classes is not None and 0 <= index < len(classes) else str(index)


def _titled(fig: Figure, title: str | None) -> Figure:
    """Set the figure title with the session's data notice appended (red when data is synthetic)."""
    notice = data_notice()
    text = title + notice if title else notice.strip()
    if text:
        fig.suptitle(text, color=NOTICE_COLOR if notice else "black", fontsize=13)
    return fig


def _grid(count: int, ncols: int, cell: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` axes (no ticks) in rows of ``ncols``; unused grid cells removed."""
    if count == 0:
        raise ValueError("nothing to show: no images")
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    fig, grid = plt.subplots(
        nrows, ncols, figsize=(cell[0] * ncols, cell[1] * nrows + 0.6), squeeze=False, layout="constrained"
    )
    axes = list(grid.ravel())
    for ax in axes[count:]:
        fig.delaxes(ax)
    for ax in axes[:count]:
        ax.set_axis_off()
    return fig, axes[:count]


def _normalization(
    transform: Any, mean: Sequence[float] | None, std: Sequence[float] | None
) -> tuple[Sequence[float] | None, Sequence[float] | None]:
    """The ``(mean, std)`` to undo: read from ``transform`` (or a dataset) by ``normalization_of``, or given."""
    if transform is None:
        return mean, std
    if mean is not None or std is not None:
        raise ValueError("give the transform (or dataset) the images went through, or mean/std, not both")
    return normalization_of(transform)


def _image_grid(
    items: list[ImageLike],
    transform: Any,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    ncols: int,
    cell: tuple[float, float],
) -> tuple[Figure, list[Axes]]:
    """A grid with one image per axes (normalisation undone); callers add the titles."""
    mean, std = _normalization(transform, mean, std)
    fig, axes = _grid(len(items), ncols, cell)
    for ax, image in zip(axes, items):
        _imshow(ax, to_display_array(image, mean=mean, std=std))
    return fig, axes


def _imshow(ax: Axes, array: np.ndarray, **kwargs: Any) -> None:
    if array.ndim == 2:
        kwargs.setdefault("cmap", plt.get_cmap("gray").with_extremes(bad=GAP_COLOR))  # NaN marks gaps
        kwargs.setdefault("vmin", 0.0)
        kwargs.setdefault("vmax", 1.0)
    ax.imshow(array, **kwargs)


# ---------------------------------------------------------------------------------------------
# Images and predictions
# ---------------------------------------------------------------------------------------------


def show_images(
    images: torch.Tensor | Sequence[ImageLike],
    titles: Sequence[str] | None = None,
    *,
    transform: Any = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    ncols: int = 4,
    max_images: int = 32,
    title: str | None = None,
) -> Figure:
    """Show photos (paths, PIL images, arrays or tensors) in a grid, each with an optional title.

    ``transform`` is the transform the tensors went through (or their dataset): its normalisation
    is undone (:func:`course_utils.transforms.normalization_of`); ``mean``/``std`` give it by hand.
    """
    items, _ = _image_list(images, max_images)
    fig, axes = _image_grid(items, transform, mean, std, ncols, cell=(3.0, 3.0))
    for ax, text in zip(axes, titles or []):
        ax.set_title(text, fontsize=10)
    return _titled(fig, title)


def show_batch(
    images: torch.Tensor,
    labels: Labels | None,
    classes: Sequence[str] | None,
    *,
    transform: Any = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    ncols: int = 8,
    max_images: int = 32,
    title: str | None = None,
) -> Figure:
    """Show a batch ``(N, C, H, W)`` from a DataLoader with class names.

    The normalisation of ``transform`` (the dataset's transform, or the dataset) is undone.
    """
    items, total = _image_list(images, max_images)
    names = _label_list(labels, len(items))
    fig, axes = _image_grid(items, transform, mean, std, ncols, cell=(1.7, 1.9))
    for ax, name in zip(axes, names or []):
        ax.set_title(_class_name(name, classes), fontsize=9)
    default = f"{len(items)} of {total} images" if len(items) < total else f"{total} images"
    return _titled(fig, title or default)


def _predicted_probabilities(
    probabilities: Sequence[float] | torch.Tensor | np.ndarray | None, predicted: list[Any], count: int
) -> list[float] | None:
    """Probability of each predicted class, from a per-image vector or an ``(N, classes)`` matrix."""
    if probabilities is None:
        return None
    values = np.asarray(
        probabilities.detach().cpu() if isinstance(probabilities, torch.Tensor) else probabilities, dtype=float
    )
    if values.ndim == 2:
        if any(isinstance(label, str) for label in predicted):
            raise ValueError("with an (N, classes) probability matrix, predicted labels must be class indices")
        values = values[np.arange(count), [int(label) for label in predicted]]
    values = values[:count]
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ValueError("probabilities must lie in [0, 1]: pass softmax(logits), not logits")
    return values.tolist()


def prediction_grid(
    images: torch.Tensor | Sequence[ImageLike],
    true_labels: Labels | None,
    predicted_labels: Labels,
    probabilities: Sequence[float] | torch.Tensor | np.ndarray | None,
    classes: Sequence[str] | None,
    *,
    transform: Any = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    ncols: int = 4,
    max_images: int = 16,
    title: str | None = None,
) -> Figure:
    """Images with predicted class and probability: green when right, red when wrong.

    ``images`` may be a batch tensor or a list of tensors, PIL images or file paths.
    ``true_labels`` may be ``None`` (new photos without labels: titles stay black).
    ``probabilities`` is the predicted class's probability per image, or the full softmax matrix.
    ``transform`` (or the dataset) says which normalisation to undo, as in :func:`show_batch`.
    """
    items, _ = _image_list(images, max_images)
    count = len(items)
    predicted = _label_list(predicted_labels, count) or []
    truth = _label_list(true_labels, count)
    if len(predicted) < count or (truth is not None and len(truth) < count):
        raise ValueError(f"{count} images need as many labels: got {len(predicted)} predicted, "
                         f"{'no' if truth is None else len(truth)} true")
    confidence = _predicted_probabilities(probabilities, predicted, count)
    fig, axes = _image_grid(items, transform, mean, std, ncols, cell=(2.6, 2.9))
    correct = 0
    for index, ax in enumerate(axes):
        guess = _class_name(predicted[index], classes)
        text = f"pred: {guess}" + (f" ({confidence[index]:.0%})" if confidence is not None else "")
        color = "black"
        if truth is not None:
            actual = _class_name(truth[index], classes)
            right = actual == guess
            correct += right
            color = CORRECT_COLOR if right else WRONG_COLOR
            text += f"\ntrue: {actual}"
        ax.set_title(text, color=color, fontsize=10, fontweight="bold" if color == WRONG_COLOR else "normal")
    default = f"Predictions: {correct}/{count} correct" if truth is not None else "Predictions"
    return _titled(fig, title or default)


def show_matrices(
    named_matrices: Mapping[str, np.ndarray | torch.Tensor | Sequence[Sequence[float]]],
    *,
    cmap: str = "Blues",
    title: str | None = None,
) -> Figure:
    """Small matrices side by side, each cell annotated with its value: an image, a kernel, a feature map.

    The colour scale of each runs from ``min(0, smallest)`` to ``max(1, largest)`` value. The figure
    has a title (with the data notice) only when ``title`` is given: hand-made numbers are not data.
    """
    matrices = {name: np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m, dtype=float)
                for name, m in named_matrices.items()}  # fmt: skip
    if not matrices:
        raise ValueError("nothing to show: no matrices")
    for name, matrix in matrices.items():
        if matrix.ndim != 2:
            raise ValueError(f"{name!r} has shape {matrix.shape}, not (rows, columns)")
    fig, grid = plt.subplots(1, len(matrices), figsize=(3 * len(matrices), 3), squeeze=False, layout="constrained")
    for ax, (name, matrix) in zip(grid[0], matrices.items()):
        low, high = min(matrix.min(), 0.0), max(matrix.max(), 1.0)
        ax.imshow(matrix, cmap=cmap, vmin=low, vmax=high)
        for (row, col), value in np.ndenumerate(matrix):
            color = "white" if value > (low + high) / 2 else "black"
            ax.text(col, row, f"{value:.3g}", ha="center", va="center", color=color)
        ax.set(title=name, xticks=[], yticks=[])
    return _titled(fig, title) if title else fig


# ---------------------------------------------------------------------------------------------
# Training curves and confusion matrix
# ---------------------------------------------------------------------------------------------


def history_frame(history: Any) -> pd.DataFrame:
    """A training history as a DataFrame with an ``epoch`` column and numeric values (``None`` -> NaN).

    Accepts an object with ``.to_frame()`` (``course_utils.training.History``), a DataFrame,
    a list of per-epoch dicts, or a dict of per-epoch lists.
    """
    if hasattr(history, "to_frame"):
        frame = history.to_frame()
    elif isinstance(history, pd.DataFrame):
        frame = history.copy()
    elif isinstance(history, Mapping):
        frame = pd.DataFrame(dict(history))
    else:
        frame = pd.DataFrame(list(history))
    frame = frame.reset_index(drop=True).apply(pd.to_numeric, errors="coerce")
    if "epoch" not in frame or frame["epoch"].isna().all():
        frame["epoch"] = np.arange(1, len(frame) + 1)
    return frame


def _plot_pair(ax: Axes, frame: pd.DataFrame, metric: str, marker: str | None) -> bool:
    """Plot ``train_<metric>`` and ``val_<metric>``; return whether anything was plotted."""
    plotted = False
    for split, label, color in (("train", "train", TRAIN_COLOR), ("val", "validation", VAL_COLOR)):
        column = f"{split}_{metric}"
        if column in frame and frame[column].notna().any():
            rows = frame[frame[column].notna()]
            ax.plot(rows["epoch"], rows[column], label=label, color=color, marker=marker, markersize=4)
            plotted = True
    return plotted


def training_curves(history: Any, *, title: str | None = None) -> Figure:
    """Loss and accuracy per epoch, train vs validation, side by side; best validation loss marked."""
    frame = history_frame(history)
    if frame.empty:
        raise ValueError("the history has no epochs yet")
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    marker = "o" if len(frame) <= 30 else None
    _plot_pair(loss_ax, frame, "loss", marker)
    has_acc = _plot_pair(acc_ax, frame, "acc", marker)
    loss_ax.set(title="Loss", xlabel="Epoch", ylabel="Loss")
    acc_ax.set(title="Accuracy", xlabel="Epoch", ylabel="Accuracy")
    if has_acc:
        accuracies = frame[[c for c in ("train_acc", "val_acc") if c in frame]].to_numpy(dtype=float)
        acc_ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0 if np.nanmax(accuracies) <= 1.0 else 100.0, decimals=0))
    else:
        acc_ax.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center", transform=acc_ax.transAxes)
    if "val_loss" in frame and frame["val_loss"].notna().sum() > 1:
        best = frame.loc[frame["val_loss"].idxmin(), "epoch"]
        for ax in (loss_ax, acc_ax):
            ax.axvline(best, color="gray", linestyle=":", linewidth=1.2, label=f"best val loss (epoch {best:g})")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False)
    return _titled(fig, title or "Training curves")


def confusion_matrix_plot(
    matrix: np.ndarray | torch.Tensor | Sequence[Sequence[int]],
    classes: Sequence[str],
    *,
    normalize: bool = False,
    title: str | None = None,
    cmap: str = "Blues",
) -> Figure:
    """Confusion matrix (rows: true class, columns: predicted) with every cell annotated.

    ``normalize=True`` divides each row by its total, so cells read as per-class recall.
    """
    counts = np.asarray(matrix.detach().cpu() if isinstance(matrix, torch.Tensor) else matrix)
    size = len(classes)
    if counts.ndim != 2 or counts.shape != (size, size):
        raise ValueError(f"expected a {size}x{size} matrix for {size} classes, got shape {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    values = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0) if normalize else counts
    side = max(4.5, 0.55 * size + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side), layout="constrained")
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, format=PercentFormatter(1.0) if normalize else None)
    if size <= 30:
        fontsize = 11 if size <= 10 else max(6, 14 - size // 3)
        for row in range(size):
            for col in range(size):
                value = values[row, col]
                text = f"{value:.0%}" if normalize else f"{int(value):d}"
                ax.text(col, row, text, ha="center", va="center", fontsize=fontsize,
                        color="white" if value > vmax / 2 else "black")
    ax.set_xticks(range(size), labels=classes, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(size), labels=classes)
    ax.set(xlabel="Predicted class", ylabel="True class")
    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else float("nan")
    default = f"Confusion matrix: accuracy {accuracy:.1%} on {total:,} images"
    if normalize:
        default += " (rows normalised)"
    return _titled(fig, title or default)


# ---------------------------------------------------------------------------------------------
# Looking inside a CNN
# ---------------------------------------------------------------------------------------------


def _first_conv(model_or_weight: nn.Module | torch.Tensor) -> tuple[str, torch.Tensor]:
    """``(name, weight)`` of the first ``nn.Conv2d`` of a model, a ``Conv2d`` itself, or a raw weight."""
    if isinstance(model_or_weight, torch.Tensor):
        return "weight", model_or_weight
    for name, module in model_or_weight.named_modules():
        if isinstance(module, nn.Conv2d):
            return name or type(module).__name__, module.weight
    raise ValueError(f"{type(model_or_weight).__name__} has no nn.Conv2d layer")


def _filter_image(kernel: torch.Tensor) -> np.ndarray:
    """One filter ``(C, kh, kw)`` min-max scaled to [0, 1]: colour for C=3, else channels side by side."""
    low, high = kernel.min(), kernel.max()
    scaled = (kernel - low) / (high - low) if high > low else torch.full_like(kernel, 0.5)
    if scaled.shape[0] == 3:
        return scaled.permute(1, 2, 0).numpy()
    gap = torch.full((scaled.shape[0], scaled.shape[1], 1), float("nan"))
    return torch.cat([scaled, gap], dim=2).permute(1, 0, 2).reshape(scaled.shape[1], -1)[:, :-1].numpy()


def first_layer_filters(
    model_or_weight: nn.Module | torch.Tensor,
    *,
    max_filters: int = 64,
    ncols: int = 8,
    title: str | None = None,
) -> Figure:
    """The first convolution's filters, each min-max normalised; RGB filters in colour.

    Filters with other channel counts show their channels side by side in grayscale.
    """
    name, weight = _first_conv(model_or_weight)
    weight = weight.detach().cpu().float()
    if weight.ndim != 4:
        raise ValueError(f"expected a Conv2d weight (out, in, kh, kw), got shape {tuple(weight.shape)}")
    out_channels, in_channels, height, width = weight.shape
    count = min(out_channels, max_filters)
    channels = 3 if in_channels == 3 else min(in_channels, MAX_FILTER_CHANNELS)
    strip = 1 if in_channels == 3 else channels  # grayscale channels side by side
    cell_width = 0.3 + 0.8 * strip
    ncols = max(1, min(ncols, int(FIGURE_WIDTH // cell_width)))
    fig, axes = _grid(count, ncols, cell=(cell_width, 1.1 if strip == 1 else 1.3))
    for index, (ax, kernel) in enumerate(zip(axes, weight[:count, :channels])):
        _imshow(ax, _filter_image(kernel), interpolation="nearest")
        if strip > 1:  # frame and label each strip so filters are told apart from their channels
            ax.set_axis_on()
            ax.set(xticks=[], yticks=[])
            ax.set_title(f"filter {index}", fontsize=8)
    shown = f", first {count} shown" if count < out_channels else ""
    if channels < in_channels:
        shown += f", first {channels} channels each"
    default = f"First conv layer '{name}': {out_channels} filters of {in_channels}x{height}x{width}{shown}"
    return _titled(fig, title or default)


def feature_maps(
    model: nn.Module,
    layer: str | nn.Module,
    image: torch.Tensor,
    *,
    max_maps: int = 32,
    ncols: int = 8,
    cmap: str = "viridis",
    title: str | None = None,
) -> Figure:
    """Channels of ``layer``'s output for one (already transformed) image, via a forward hook.

    ``layer`` is a module of ``model`` or its dotted name (``"features.3"``, ``"layer1"``).
    Runs in eval mode without gradients; the model's modes and hooks are restored afterwards.
    Each map has its own colour scale (bright = strong activation).
    """
    name, module = find_layer(model, layer)
    batch = image.unsqueeze(0) if image.ndim == 3 else image
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected one image (C, H, W) or (1, C, H, W), got shape {tuple(image.shape)}")
    captured: list[torch.Tensor] = []

    def keep_output(_module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
        first = output[0] if isinstance(output, (tuple, list)) else output
        captured.append(first.detach().cpu())

    handle = module.register_forward_hook(keep_output)
    try:
        with preserved_state(model, training=False), torch.no_grad():
            model(batch.to(model_device(model)))
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {name!r} was not called in the forward pass")
    maps = captured[0][0]
    if maps.ndim != 3:
        raise ValueError(f"layer {name!r} outputs shape {tuple(captured[0].shape)}, not channel maps (C, H, W)")
    channels, height, width = maps.shape
    count = min(channels, max_maps)
    fig, axes = _grid(count, ncols, cell=(1.6, 1.75))
    for index, (ax, feature_map) in enumerate(zip(axes, maps[:count])):
        ax.imshow(feature_map.numpy(), cmap=cmap, interpolation="nearest")
        ax.set_title(f"channel {index}", fontsize=8)
    shown = f", first {count} shown" if count < channels else ""
    default = f"Feature maps of '{name}' ({type(module).__name__}): {channels}x{height}x{width}{shown}"
    return _titled(fig, title or default)
