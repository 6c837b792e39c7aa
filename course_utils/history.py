"""What ``fit`` records and watches: one :class:`History` record per epoch, the monitored metric,
:class:`EarlyStopping` and the best epoch so far."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import torch
from torch import nn

from .evaluation import dataset_classes

EPOCH_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
"""Keys of every :class:`History` record, in order."""
TOP5_KEYS = ("train_top5", "val_top5")
"""Extra keys of a record when the problem has more than five classes."""
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", *TOP5_KEYS)
"""Metrics that early stopping, ``restore_best`` and ``ReduceLROnPlateau`` can monitor."""


def metric_mode(metric: str) -> Literal["min", "max"]:
    """Whether smaller (losses) or larger (accuracies) values of ``metric`` are better."""
    return "min" if metric.endswith("loss") else "max"


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class History(list):
    """One plain dict per epoch with the keys of :data:`EPOCH_KEYS` (plus :data:`TOP5_KEYS`).

    It is a list, so ``pandas.DataFrame(history)``, ``len(history)``, ``history[-1]`` and
    ``json.dumps(history)`` all work; ``to_frame()``, ``best()`` and ``last`` are shortcuts.
    Unmeasured values (validation without a ``val_loader``) are NaN. Save it as
    ``list(history)`` when storing it yourself; ``fit`` does so in its checkpoints.
    """

    def __init__(
        self, records: Iterable[Mapping[str, Any]] = (), *, from_checkpoint: bool = False, stopped_early: bool = False
    ) -> None:
        super().__init__(dict(record) for record in records)
        self.from_checkpoint = from_checkpoint
        """True when ``fit`` loaded a finished run instead of training."""
        self.stopped_early = stopped_early
        """True when early stopping ended the run before ``epochs``."""

    @property
    def last(self) -> dict[str, Any] | None:
        """The most recent epoch's record (``None`` before the first epoch)."""
        return self[-1] if self else None

    def best(self, metric: str = "val_loss") -> dict[str, Any]:
        """The record of the epoch with the best ``metric`` (lowest loss, highest accuracy; earliest on ties)."""
        measured = [record for record in self if not is_missing(record.get(metric))]
        if not measured:
            raise ValueError(f"no epoch has a value for {metric!r} (known keys: {', '.join(self._keys())})")
        pick = min if metric_mode(metric) == "min" else max
        return pick(measured, key=lambda record: record[metric])

    def _keys(self) -> list[str]:
        return list(self[0]) if self else list(EPOCH_KEYS)

    def records(self) -> list[dict[str, Any]]:
        """A plain copy (list of dicts), safe for ``torch.save`` and ``weights_only`` loading."""
        return [dict(record) for record in self]

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame with one row per epoch and one column per key."""
        return pd.DataFrame(self.records(), columns=self._keys())

    def __repr__(self) -> str:
        note = ", loaded from checkpoint" if self.from_checkpoint else ""
        note += ", stopped early" if self.stopped_early else ""
        return f"History({len(self)} epochs{note})\n{self.to_frame().to_string(index=False)}"

    def _repr_html_(self) -> str:
        return self.to_frame()._repr_html_()


def epoch_record(
    epoch: int, train: Mapping[str, float], val: Mapping[str, float] | None, lr: float, seconds: float
) -> dict[str, Any]:
    """A :class:`History` record from the metrics of ``train_one_epoch`` and ``validate`` (``None``: not run)."""
    val = val or {}
    record = {
        "epoch": epoch,
        "train_loss": train["loss"],
        "train_acc": train["acc"],
        "val_loss": val.get("loss", math.nan),
        "val_acc": val.get("acc", math.nan),
        "lr": float(lr),
        "seconds": seconds,
    }
    if "top5" in train:
        record["train_top5"] = train["top5"]
        record["val_top5"] = val.get("top5", math.nan)
    return record


# --------------------------------------------------------------------------- monitoring


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``monitor`` is e.g. ``"val_loss"`` (lower is better) or ``"val_acc"`` (higher is better);
    ``None`` uses ``fit``'s ``monitor`` (by default ``val_loss``, or ``train_loss`` without validation).
    """

    patience: int = 3
    monitor: str | None = None
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError("EarlyStopping.patience must be at least 1")
        if self.min_delta < 0:
            raise ValueError("EarlyStopping.min_delta must not be negative")


def plan_monitoring(
    monitor: str | None,
    early_stopping: EarlyStopping | int | None,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None,
    scheduler: Any,
) -> tuple[str, EarlyStopping | None]:
    """``fit``'s monitored metric and early stopping (a bare int is a patience), checked before any training."""
    if isinstance(early_stopping, bool):
        raise TypeError("early_stopping takes a patience (int) or an EarlyStopping, not a bool")
    if isinstance(early_stopping, int):
        early_stopping = EarlyStopping(patience=early_stopping)
    monitor = resolve_monitor(monitor, early_stopping, has_validation=val_loader is not None)
    check_monitor_fits(monitor, train_loader, scheduler)
    return monitor, early_stopping


def resolve_monitor(monitor: str | None, early_stopping: EarlyStopping | None, has_validation: bool) -> str:
    """The metric ``fit`` watches: the one given once, else ``val_loss`` (``train_loss`` without validation)."""
    wanted = early_stopping.monitor if early_stopping is not None else None
    if monitor is not None and wanted is not None and monitor != wanted:
        raise ValueError(f"monitor={monitor!r} but early_stopping monitors {wanted!r}: give it once")
    monitor = monitor or wanted or ("val_loss" if has_validation else "train_loss")
    if monitor not in METRICS:
        raise ValueError(f"cannot monitor {monitor!r}: choose one of {', '.join(METRICS)}")
    if monitor.startswith("val_") and not has_validation:
        raise ValueError(f"monitoring {monitor!r} needs a val_loader")
    return monitor


def check_monitor_fits(monitor: str, train_loader: Iterable[Any], scheduler: Any) -> None:
    """Refuse, before any training, a monitor that cannot work with this data or scheduler."""
    classes = dataset_classes(train_loader)
    if monitor.endswith("_top5") and classes is not None and len(classes) <= 5:
        raise ValueError(f"cannot monitor {monitor!r}: top-5 accuracy is only kept with more than 5 classes")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and scheduler.mode != metric_mode(monitor):
        raise ValueError(
            f"ReduceLROnPlateau(mode={scheduler.mode!r}) would treat an improving {monitor!r} as a plateau: "
            f"create it with mode={metric_mode(monitor)!r}"
        )


class BestTracker:
    """Remembers the best value of the monitored metric, epochs without improvement, and optionally weights."""

    def __init__(self, monitor: str, min_delta: float = 0.0, keep_weights: bool = False) -> None:
        self.monitor = monitor
        self.min_delta = min_delta
        self.keep_weights = keep_weights
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def update(self, record: Mapping[str, Any], model: nn.Module) -> None:
        if self.monitor not in record:
            raise ValueError(f"cannot monitor {self.monitor!r}: epoch records have {', '.join(record)}")
        value = record[self.monitor]
        if not is_missing(value) and self._improves(value):
            self.best_value, self.best_epoch, self.bad_epochs = value, record["epoch"], 0
            if self.keep_weights:
                self.best_weights = {name: t.detach().to("cpu", copy=True) for name, t in model.state_dict().items()}
        else:
            self.bad_epochs += 1

    def _improves(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if metric_mode(self.monitor) == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def state(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, state: Mapping[str, Any], best_weights: dict[str, torch.Tensor] | None) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.best_weights = best_weights if self.keep_weights else None
        if self.keep_weights and best_weights is None:  # the interrupted run did not keep them: start afresh
            self.best_value, self.best_epoch = None, None

    def restore(self, model: nn.Module) -> None:
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights)
