"""Measuring a trained classifier: running metrics, :func:`evaluate` on a loader, :func:`predict` on files.

Models may return logits (for ``nn.CrossEntropyLoss``) or log-probabilities (for ``nn.NLLLoss``):
the predicted class is the arg-max either way, and a softmax turns both into probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import distributed
from .atomic import atomic_path
from .images import UnreadableImageError, is_image_file, load_rgb
from .inspection import model_device, preserved_state

TOP_K = 5
"""Top-5 accuracy is reported when a problem has more than this many classes."""


def logits_of(outputs: Any) -> torch.Tensor:
    """The main output of a model: the tensor itself, or the first item of a tuple (e.g. GoogLeNet's)."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    if isinstance(outputs, (tuple, list)) and outputs and isinstance(outputs[0], torch.Tensor):
        return outputs[0]
    raise TypeError(f"expected the model to return a tensor of class scores, got {type(outputs).__name__}")


def loss_reduction(loss_fn: Callable[..., torch.Tensor]) -> str:
    """``"mean"`` (a batch loss is the mean over its samples; also plain functions) or ``"sum"``."""
    reduction = getattr(loss_fn, "reduction", "mean")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"loss_fn has reduction={reduction!r}; use 'mean' (the default) or 'sum'")
    return reduction


class RunningMetrics:
    """Sample-weighted loss and (top-5) accuracy over batches, kept on the device until read.

    ``update`` does what the lecture's loop does by hand: ``epoch_loss += loss * batch_size`` and
    ``corrects += (outputs.argmax(1) == labels).sum()``, but with tensors on the device, so it never
    waits for the GPU; reading a value does, so read sparingly (a progress bar does it a few times
    a second at most, ``fit`` once per epoch). ``loss_fn`` tells whether a batch loss is a mean or
    a sum over the batch (its ``reduction``); without it, losses are taken to be means.
    """

    def __init__(self, device: torch.device, loss_fn: Callable[..., torch.Tensor] | None = None) -> None:
        self.summed_loss = loss_fn is not None and loss_reduction(loss_fn) == "sum"
        dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        self.loss_sum = torch.zeros((), dtype=dtype, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.top5_correct = torch.zeros((), dtype=torch.int64, device=device)
        self.count = 0
        self.has_loss = False
        self.num_classes: int | None = None

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss: torch.Tensor | None = None) -> None:
        """Add one batch: its class scores, its labels and (optionally) its loss as ``loss_fn`` returned it."""
        batch_size = targets.size(0)
        logits = logits.detach()
        if loss is not None:  # a mean loss times the batch size, like the lecture's loss.item() * inputs.size(0)
            self.loss_sum.add_(loss.detach(), alpha=1 if self.summed_loss else batch_size)
            self.has_loss = True
        self.correct.add_(logits.argmax(dim=1).eq(targets).sum())
        self.num_classes = logits.size(1)
        if self.num_classes > TOP_K:  # a target appears at most once among the top five indices
            top = logits.topk(TOP_K, dim=1, sorted=False).indices
            self.top5_correct.add_(top.eq(targets.unsqueeze(1)).sum())
        self.count += batch_size

    def all_reduce(self) -> None:
        """Add up the sums of every process under DistributedDataParallel, so that the values read
        afterwards are those of the whole dataset; nothing happens in a single process."""
        if not distributed.active():
            return
        device = self.correct.device
        sums = torch.stack([self.loss_sum.double(), self.correct.double(), self.top5_correct.double(),
                            torch.tensor(float(self.count), dtype=torch.float64, device=device)])  # fmt: skip
        flags = torch.tensor([int(self.has_loss), self.num_classes or 0], device=device)
        distributed.all_reduce(sums)
        distributed.all_reduce(flags, op="max")  # a process with an empty share has seen no classes
        self.loss_sum.copy_(sums[0])
        self.correct.copy_(sums[1].round().long())
        self.top5_correct.copy_(sums[2].round().long())
        self.count = int(sums[3].item())
        self.has_loss, self.num_classes = bool(flags[0]), int(flags[1]) or None

    @property
    def loss(self) -> float:
        return self.loss_sum.item() / self.count if (self.count and self.has_loss) else math.nan

    @property
    def accuracy(self) -> float:
        return self.correct.item() / self.count if self.count else math.nan

    @property
    def top5(self) -> float | None:
        if self.num_classes is None or self.num_classes <= TOP_K:
            return None
        return self.top5_correct.item() / self.count

    def result(self) -> dict[str, float]:
        """``loss`` and ``acc`` (and ``top5`` with more than 5 classes) over all batches added so far."""
        if not self.count:
            raise ValueError("the loader yielded no samples")
        result = {"loss": self.loss, "acc": self.accuracy}
        if self.top5 is not None:
            result["top5"] = self.top5
        return result


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return model_device(model)


def dataset_classes(loader_or_dataset: Any) -> list[str] | None:
    """Class names of a loader's dataset (``.classes``), looking through ``Subset``-like wrappers."""
    dataset = getattr(loader_or_dataset, "dataset", loader_or_dataset)
    for _ in range(8):
        classes = getattr(dataset, "classes", None)
        if classes is not None:
            return [str(name) for name in classes]
        dataset = getattr(dataset, "dataset", None)
        if dataset is None:
            return None
    return None


# --------------------------------------------------------------------------- evaluate


@dataclass
class Evaluation:
    """What :func:`evaluate` measured. ``confusion[i, j]`` counts samples of class ``i`` predicted as ``j``."""

    loss: float | None
    accuracy: float
    top5: float | None
    confusion: np.ndarray
    classes: list[str]
    predictions: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray
    """Softmax probabilities, one row per sample and one column per class."""

    @cached_property
    def confusion_frame(self) -> pd.DataFrame:
        """The confusion matrix with class names: rows are true classes, columns predictions."""
        return pd.DataFrame(
            self.confusion,
            index=pd.Index(self.classes, name="true"),
            columns=pd.Index(self.classes, name="predicted"),
        )

    @cached_property
    def per_class_accuracy(self) -> pd.Series:
        """Fraction of each true class predicted correctly (NaN for a class with no samples)."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(totals > 0, np.diag(self.confusion) / np.maximum(totals, 1), np.nan)
        return pd.Series(values, index=pd.Index(self.classes, name="class"), name="accuracy")

    def summary(self) -> str:
        parts = [f"{len(self.targets)} samples", f"accuracy {self.accuracy:.2%}"]
        if self.top5 is not None:
            parts.append(f"top-5 {self.top5:.2%}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"Evaluation({self.summary()})"


def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    classes: Sequence[str] | None = None,
) -> Evaluation:
    """Run ``model`` (in eval mode) over ``loader`` and measure loss, accuracy, top-5 and confusion.

    ``device`` defaults to where the model is; ``classes`` to the dataset's ``.classes`` (else
    ``"0"``, ``"1"``, ...). The model's train/eval mode is restored afterwards.
    """
    device = _resolve_device(model, device)
    model.to(device)
    metrics = RunningMetrics(device, loss_fn)
    all_logits, all_targets = [], []
    with preserved_state(model, training=False), torch.inference_mode():
        for batch in loader:
            inputs = batch[0].to(device, non_blocking=True)
            targets = batch[1].to(device, non_blocking=True)
            logits = logits_of(model(inputs))
            loss = None if loss_fn is None else loss_fn(logits, targets)
            metrics.update(logits, targets, loss)
            all_logits.append(logits.float().cpu())
            all_targets.append(targets.cpu())
    if not metrics.count:
        raise ValueError("evaluate(): the loader yielded no samples")
    logits = torch.cat(all_logits)
    targets_array = torch.cat(all_targets).numpy()
    num_classes = logits.size(1)
    names = _class_names(classes if classes is not None else dataset_classes(loader), num_classes)
    predictions = logits.argmax(dim=1).numpy()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (targets_array, predictions), 1)
    return Evaluation(
        loss=metrics.loss if loss_fn is not None else None,
        accuracy=metrics.accuracy,
        top5=metrics.top5,
        confusion=confusion,
        classes=names,
        predictions=predictions,
        targets=targets_array,
        probabilities=torch.softmax(logits, dim=1).numpy(),
    )


def _class_names(classes: Sequence[str] | None, num_classes: int) -> list[str]:
    if classes is None:
        return [str(index) for index in range(num_classes)]
    names = [str(name) for name in classes]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} class names given, but the model scores {num_classes} classes")
    return names


# --------------------------------------------------------------------------- predict


def predict(
    model: nn.Module,
    source: torch.Tensor | str | Path | Sequence[str | Path],
    *,
    classes: Sequence[str],
    transform: Callable[[Any], torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """Predict classes for a tensor batch, a list of image paths, or a folder (searched recursively).

    Returns one row per input with columns ``path`` (files only: a tensor's rows are indexed by
    their position in the batch), ``predicted`` (class name), ``probability`` (of the predicted
    class), ``p_<class>`` for every class, and ``error`` (empty when fine). Files that cannot be read
    or transformed, broken links included, are reported in ``error`` (with ``predicted`` empty and
    probabilities NaN), never raised. Tensors are used as they are; ``transform`` (PIL image ->
    tensor, required for files) is applied to images read from disk.
    """
    names = [str(name) for name in classes]
    device = _resolve_device(model, device)
    model.to(device)
    with preserved_state(model, training=False):
        if isinstance(source, torch.Tensor):
            batch = source.unsqueeze(0) if source.dim() == 3 else source
            probabilities = _probabilities(model, batch, device, batch_size, len(names))
            rows = [_row(None, names, p, "") for p in probabilities]
        else:
            paths = _image_paths(source)
            if paths and transform is None:
                raise ValueError("predict() needs a transform (PIL image -> tensor) to read image files")
            rows = []
            for start in range(0, len(paths), batch_size):
                rows.extend(_predict_files(model, paths[start : start + batch_size], transform, device, names))
    columns = ["predicted", "probability", *[f"p_{name}" for name in names], "error"]
    return pd.DataFrame(rows, columns=columns if isinstance(source, torch.Tensor) else ["path", *columns])


def save_predictions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a :func:`predict` frame to CSV (no index column, atomically), creating missing parent folders."""
    path = Path(path)
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)
    return path


def _image_paths(source: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        folder = Path(source)
        if folder.is_dir():
            return sorted(  # broken links too: they are reported, not dropped
                path
                for path in folder.rglob("*")
                if is_image_file(path) and (path.is_file() or (path.is_symlink() and not path.exists()))
            )
        return [folder]  # a single file; a missing one is reported in the frame
    return [Path(path) for path in source]


def _predict_files(
    model: nn.Module,
    paths: list[Path],
    transform: Callable[[Any], torch.Tensor],
    device: torch.device,
    names: list[str],
) -> list[dict[str, Any]]:
    tensors: dict[int, torch.Tensor] = {}
    errors: dict[int, str] = {}
    for index, path in enumerate(paths):
        try:
            tensors[index] = transform(load_rgb(path))
        except UnreadableImageError as error:
            errors[index] = error.reason
        except Exception as error:  # a transform that fails on this image
            errors[index] = f"transform failed ({type(error).__name__}: {error})"
    probabilities: dict[int, np.ndarray] = {}
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for index, tensor in tensors.items():
        by_shape.setdefault(tuple(tensor.shape), []).append(index)
    for indices in by_shape.values():
        batch = torch.stack([tensors[index] for index in indices])
        for index, row in zip(indices, _probabilities(model, batch, device, len(indices), len(names))):
            probabilities[index] = row
    return [
        _row(str(path), names, probabilities.get(index), errors.get(index, "")) for index, path in enumerate(paths)
    ]


def _probabilities(
    model: nn.Module, batch: torch.Tensor, device: torch.device, batch_size: int, num_classes: int
) -> np.ndarray:
    chunks = []
    with torch.inference_mode():
        for start in range(0, batch.size(0), batch_size):
            logits = logits_of(model(batch[start : start + batch_size].to(device, non_blocking=True)))
            if logits.size(1) != num_classes:
                raise ValueError(f"{num_classes} class names given, but the model scores {logits.size(1)} classes")
            chunks.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, num_classes), dtype=np.float32)


def _row(path: str | None, names: list[str], probabilities: np.ndarray | None, error: str) -> dict[str, Any]:
    row: dict[str, Any] = {"path": path, "error": error}
    if probabilities is None:
        row.update(predicted=None, probability=math.nan)
        row.update({f"p_{name}": math.nan for name in names})
        return row
    best = int(np.argmax(probabilities))
    row.update(predicted=names[best], probability=float(probabilities[best]))
    row.update({f"p_{name}": float(p) for name, p in zip(names, probabilities)})
    return row
