"""``fit()``: the course's training loop, with progress bars, checkpoints, resume and early stopping.

    history = fit(model, train_loader, val_loader, loss_fn=nn.CrossEntropyLoss(),
                  optimizer=optimizer, epochs=course.profile.epochs,
                  checkpoint=course.checkpoint_path("lenet5_cats_dogs"))
    history.to_frame()

After every epoch the whole training state is saved atomically to ``checkpoint``. Running the same
cell again continues an interrupted run exactly where it stopped (on the CPU the result equals an
uninterrupted run), and a finished run is loaded instead of trained ("present" mode), unless
``retrain=True`` or ``COURSE_RETRAIN=1``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import session
from .checkpoints import (
    CheckpointError,
    capture_rng_state,
    check_metadata_compatible,
    check_model_compatible,
    final_weights,
    load_checkpoint,
    loader_generator,
    plain_metadata,
    restore_rng_state,
    save_checkpoint,
    timestamp,
)
from .evaluation import RunningMetrics, dataset_classes, mean_loss
from .inspection import model_device

EPOCH_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
"""Keys of every :class:`History` record, in order."""
TOP5_KEYS = ("train_top5", "val_top5")
"""Extra keys of a record when the problem has more than five classes."""
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", *TOP5_KEYS)
"""Metrics that early stopping, ``restore_best`` and ``ReduceLROnPlateau`` can monitor."""
RUN_METADATA_KEYS = (
    "model_class", "optimizer", "scheduler", "profile", "epochs", "monitor",
    "finished", "stopped_early", "restored_best", "best_epoch", "torch_version", "saved_at",
)  # fmt: skip
"""Metadata that ``fit`` writes itself; callers pass the rest (classes, input_size, mean, std, ...)."""

OutputHook = Callable[[Any, torch.Tensor, Callable[..., torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]
"""``hook(outputs, targets, loss_fn) -> (loss, logits)``: turns what the model returned into a loss
to minimise and the class scores used for accuracy. Called in training and validation."""


def metric_mode(metric: str) -> Literal["min", "max"]:
    """Whether smaller (losses) or larger (accuracies) values of ``metric`` are better."""
    return "min" if metric.endswith("loss") else "max"


# --------------------------------------------------------------------------- history


class History(list):
    """One plain dict per epoch with the keys of :data:`EPOCH_KEYS` (plus :data:`TOP5_KEYS`).

    It is a list, so ``pandas.DataFrame(history)``, ``len(history)``, ``history[-1]`` and
    ``json.dumps(history)`` all work; ``to_frame()``, ``best()`` and ``last`` are shortcuts.
    Unmeasured values (validation without a ``val_loader``) are NaN. Save it as
    ``list(history)`` when storing it yourself; :func:`fit` does so in its checkpoints.
    """

    def __init__(
        self, records: Iterable[Mapping[str, Any]] = (), *, from_checkpoint: bool = False, stopped_early: bool = False
    ) -> None:
        super().__init__(dict(record) for record in records)
        self.from_checkpoint = from_checkpoint
        """True when :func:`fit` loaded a finished run instead of training."""
        self.stopped_early = stopped_early
        """True when early stopping ended the run before ``epochs``."""

    @property
    def last(self) -> dict[str, Any] | None:
        """The most recent epoch's record (``None`` before the first epoch)."""
        return self[-1] if self else None

    def best(self, metric: str = "val_loss") -> dict[str, Any]:
        """The record of the epoch with the best ``metric`` (lowest loss, highest accuracy; earliest on ties)."""
        measured = [record for record in self if not _is_missing(record.get(metric))]
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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- model outputs


def standard_output(
    outputs: Any, targets: torch.Tensor, loss_fn: Callable[..., torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The default output hook: the model returns class scores (logits or log-probabilities)."""
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(
            f"The model returned a {type(outputs).__name__} instead of a tensor of class scores. "
            "For GoogLeNet/Inception auxiliary outputs pass output_hook=googlenet_aux_loss(); "
            "otherwise pass an output_hook(outputs, targets, loss_fn) -> (loss, logits)."
        )
    return loss_fn(outputs, targets), outputs


def googlenet_aux_loss(aux_weight: float = 0.3) -> OutputHook:
    """An output hook for models with auxiliary classifiers (torchvision GoogLeNet, Inception v3).

    In training mode such a model returns ``(logits, aux..., )``; the loss is
    ``loss(logits) + aux_weight * sum(loss(aux))`` and accuracy uses ``logits``. In eval mode the
    model returns plain logits and the hook computes the ordinary loss.
    """

    def hook(
        outputs: Any, targets: torch.Tensor, loss_fn: Callable[..., torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(outputs, torch.Tensor):
            return loss_fn(outputs, targets), outputs
        logits, *auxiliary = outputs
        loss = loss_fn(logits, targets)
        for aux_logits in auxiliary:
            if aux_logits is not None:
                loss = loss + aux_weight * loss_fn(aux_logits, targets)
        return loss, logits

    hook.__name__ = hook.__qualname__ = f"googlenet_aux_loss(aux_weight={aux_weight})"
    return hook


# --------------------------------------------------------------------------- early stopping


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


class _BestTracker:
    """Remembers the best value of the monitored metric, epochs without improvement, and optionally weights."""

    def __init__(self, monitor: str, min_delta: float, keep_weights: bool) -> None:
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
        if not _is_missing(value) and self._improves(value):
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


# --------------------------------------------------------------------------- progress


def _interactive() -> bool:
    """A notebook (Jupyter, Colab) or a terminal; not a CI log, and not when ``TQDM_DISABLE`` is set."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell"):  # Jupyter, Colab
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _progress_mode(progress: bool | str) -> str:
    if progress is True:
        return "bars" if _interactive() else "lines"
    if progress is False:
        return "off"
    if progress not in ("bars", "lines", "off"):
        raise ValueError(f"progress must be True, False, 'bars', 'lines' or 'off', not {progress!r}")
    return progress


class _Progress:
    """``"bars"``: tqdm epoch and batch bars plus a line per epoch; ``"lines"``: a line per epoch; ``"off"``."""

    POSTFIX_INTERVAL = 0.5  # seconds between running-metric updates (each one syncs with the GPU)

    def __init__(self, mode: str, epochs: int, start_epoch: int) -> None:
        self.mode = mode
        self.epochs = epochs
        self.epoch_bar = None
        if self.mode == "bars":
            self.epoch_bar = tqdm(total=epochs, initial=start_epoch, desc="epochs", unit="epoch", dynamic_ncols=True)
        self._last_postfix = 0.0

    @contextlib.contextmanager
    def batches(self, loader: Iterable[Any], desc: str) -> Iterator[Iterable[Any]]:
        """The loader's batches for one pass, behind a batch bar in ``"bars"`` mode."""
        batches = iterate_quietly(loader)
        if self.mode != "bars":
            yield batches
            return
        bar = tqdm(
            batches, desc=desc, total=_length(loader), unit="batch", leave=False,
            mininterval=self.POSTFIX_INTERVAL, dynamic_ncols=True,
        )  # fmt: skip
        try:
            yield bar
        finally:
            bar.close()

    def batch_done(self, bar: Iterable[Any], metrics: RunningMetrics) -> None:
        if self.mode != "bars":
            return
        now = time.monotonic()
        if now - self._last_postfix >= self.POSTFIX_INTERVAL:
            self._last_postfix = now
            bar.set_postfix(loss=f"{metrics.loss:.4f}", acc=f"{metrics.accuracy:.2%}", refresh=False)

    def epoch_done(self, record: Mapping[str, Any]) -> None:
        if self.epoch_bar is not None:
            shown = {key: f"{record[key]:.4g}" for key in ("train_loss", "val_loss", "val_acc") if key in record}
            self.epoch_bar.set_postfix(shown, refresh=False)
            self.epoch_bar.update(1)
        self.say(format_epoch(record, self.epochs))

    def say(self, text: str) -> None:
        if self.mode == "bars":
            tqdm.write(text)
        elif self.mode == "lines":
            print(text, flush=True)

    def close(self) -> None:
        if self.epoch_bar is not None:
            self.epoch_bar.close()


def _length(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def format_epoch(record: Mapping[str, Any], epochs: int) -> str:
    """One summary line, e.g. ``epoch  3/10 | train loss 0.4321 acc 81.25% | val ... | lr 1.0e-02 | 2.1s``."""
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}"]
    for split in ("train", "val"):
        if _is_missing(record.get(f"{split}_loss")):
            continue
        text = f"{split} loss {record[f'{split}_loss']:.4f} acc {record[f'{split}_acc']:.2%}"
        if f"{split}_top5" in record:
            text += f" top-5 {record[f'{split}_top5']:.2%}"
        parts.append(text)
    parts += [f"lr {record['lr']:.2e}", f"{record['seconds']:.1f}s"]
    return " | ".join(parts)


# --------------------------------------------------------------------------- data order


def iterate_quietly(loader: Iterable[Any]) -> Iterator[Any]:
    """``iter(loader)`` without consuming the global torch RNG.

    A DataLoader draws its worker seed from the global RNG when it has no generator; with
    persistent workers it does so only in the first epoch, which would make a resumed run's
    random numbers (dropout, augmentation) drift from an uninterrupted run's.
    """
    state = torch.get_rng_state()
    try:
        return iter(loader)
    finally:
        torch.set_rng_state(state)


def initial_data_seed(loader: Iterable[Any]) -> int:
    """The seed of a new run's data order: the loader generator's seed, else one drawn from torch's RNG."""
    generator = loader_generator(loader)
    if generator is not None:
        return generator.initial_seed()
    return int(torch.randint(0, 2**62, ()).item())


def epoch_seed(data_seed: int, epoch: int) -> int:
    """A shuffling seed for one epoch; unlike ``data_seed + epoch``, runs with nearby seeds share no orders."""
    return int(np.random.SeedSequence([data_seed % 2**64, epoch]).generate_state(1, dtype=np.uint64)[0])


def seed_data_order(loader: Iterable[Any], data_seed: int, epoch: int) -> None:
    """Make epoch ``epoch``'s shuffling depend only on ``(data_seed, epoch)``.

    Random samplers get a fresh generator seeded with :func:`epoch_seed`; samplers with
    ``set_epoch`` (``DistributedSampler``) are told the epoch. So epoch k sees the same order
    whether the run was interrupted or not, whatever the loader's iterator drew before.
    """
    samplers = [getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    seen: list[Any] = []
    for sampler in samplers:
        if sampler is None or any(sampler is known for known in seen):
            continue
        seen.append(sampler)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        elif hasattr(sampler, "generator"):
            sampler.generator = torch.Generator().manual_seed(epoch_seed(data_seed, epoch))


# --------------------------------------------------------------------------- one epoch


@dataclass
class _Step:
    """What every batch needs: where to run, how to compute the loss, and how to update."""

    model: nn.Module
    loss_fn: Callable[..., torch.Tensor]
    hook: OutputHook
    device: torch.device
    amp: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device.type) if self.amp else contextlib.nullcontext()

    def forward(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss, logits, targets) for one ``(inputs, targets, ...)`` batch."""
        inputs = batch[0].to(self.device, non_blocking=True)
        targets = batch[1].to(self.device, non_blocking=True)
        with self.autocast():
            loss, logits = self.hook(self.model(inputs), targets, self.loss_fn)
        return loss, logits, targets


def _train_epoch(
    step: _Step,
    loader: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    grad_clip: float | None,
    progress: _Progress,
    desc: str,
) -> RunningMetrics:
    step.model.train()
    metrics = RunningMetrics(step.device)
    with progress.batches(loader, desc) as batches:
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss, logits, targets = step.forward(batch)
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(step.model.parameters(), grad_clip)
            if scaler.is_enabled():
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            metrics.update(logits, targets, mean_loss(step.loss_fn, loss, targets.size(0)))
            progress.batch_done(batches, metrics)
    if not metrics.count:
        raise ValueError("train_loader yielded no samples")
    return metrics


def _validate(step: _Step, loader: Iterable[Any], progress: _Progress, desc: str) -> RunningMetrics:
    step.model.eval()
    metrics = RunningMetrics(step.device)
    with torch.inference_mode(), progress.batches(loader, desc) as batches:
        for batch in batches:
            loss, logits, targets = step.forward(batch)
            metrics.update(logits, targets, mean_loss(step.loss_fn, loss, targets.size(0)))
            progress.batch_done(batches, metrics)
    if not metrics.count:
        raise ValueError("val_loader yielded no samples")
    return metrics


def _epoch_record(
    epoch: int, train: RunningMetrics, val: RunningMetrics | None, lr: float, seconds: float
) -> dict[str, Any]:
    record = {
        "epoch": epoch,
        "train_loss": train.loss,
        "train_acc": train.accuracy,
        "val_loss": val.loss if val is not None else math.nan,
        "val_acc": val.accuracy if val is not None else math.nan,
        "lr": float(lr),
        "seconds": seconds,
    }
    if train.top5 is not None:
        record["train_top5"] = train.top5
        record["val_top5"] = val.top5 if val is not None and val.top5 is not None else math.nan
    return record


# --------------------------------------------------------------------------- fit


def fit(
    model: nn.Module,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any] | None = None,
    *,
    loss_fn: Callable[..., torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: Any = None,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = True,
    retrain: bool | None = None,
    metadata: Mapping[str, Any] | None = None,
    grad_clip: float | None = None,
    early_stopping: EarlyStopping | int | None = None,
    monitor: str | None = None,
    restore_best: bool = False,
    amp: bool | None = None,
    output_hook: OutputHook | None = None,
    progress: bool | Literal["bars", "lines", "off"] = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History` (one record per epoch).

    - ``loss_fn``: e.g. ``nn.CrossEntropyLoss()`` on logits or ``nn.NLLLoss()`` on log-probabilities
      (reduction ``"mean"`` or ``"sum"``). Epoch losses are per-sample means over the whole epoch.
    - ``scheduler``: stepped once per epoch; ``ReduceLROnPlateau`` receives the monitored metric.
    - ``device``: defaults to ``setup()``'s device, else where the model already is. Batches are
      copied with ``non_blocking=True`` (use ``pin_memory=True`` in the loader on CUDA).
    - ``checkpoint``: a file to save the full training state to after every epoch (atomically).
      If it exists: a finished run is loaded without training ("present" mode, no optimizer step);
      an interrupted one is continued when ``resume`` (else started over); an unreadable or
      mismatched one raises :class:`CheckpointError` and is left untouched. ``retrain=True``
      (default: ``COURSE_RETRAIN``) ignores the file and replaces it after the first epoch.
      Asking for more ``epochs`` than a finished run had continues it.
    - ``metadata``: stored in the checkpoint, e.g. ``classes``, ``input_size``, ``mean``, ``std``
      (``classes`` defaults to ``train_loader.dataset.classes``); a checkpoint whose classes,
      input size or normalisation differ is refused.
    - ``grad_clip``: clip the gradient norm to this value.
    - ``early_stopping``: an :class:`EarlyStopping`, or just a patience (monitoring ``monitor``).
    - ``monitor``: the metric for early stopping, ``restore_best`` and ``ReduceLROnPlateau``
      (default: the early stopping's, else ``"val_loss"``, or ``"train_loss"`` without validation).
    - ``restore_best``: end with the weights of the best epoch instead of the last.
    - ``amp``: mixed precision (autocast + GradScaler); default on for CUDA, always off elsewhere.
    - ``output_hook``: ``hook(outputs, targets, loss_fn) -> (loss, logits)`` for models that do not
      return plain class scores, e.g. :func:`googlenet_aux_loss` for GoogLeNet's auxiliary heads.
    - ``progress``: ``True`` shows tqdm bars in notebooks and terminals and one line per epoch in
      logs (CI, or ``TQDM_DISABLE=1``); ``"bars"``/``"lines"`` force either; ``False`` is silent.

    Returns with the model in eval mode, ready for :func:`~course_utils.evaluation.evaluate`.

    Resuming is exact on the CPU: the checkpoint holds the Python, NumPy and torch random states
    and the loader generator's, and each epoch's shuffling is seeded from the run's data seed and
    the epoch number (the train loader's random sampler gets a fresh generator every epoch), so an
    interrupted and resumed run ends with the same history and weights as an uninterrupted one.
    With ``persistent_workers`` the data order is still the same, but random augmentations done in
    worker processes are not (their random state cannot be saved); GPU kernels may add their own
    non-determinism.
    """
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    progress = _progress_mode(progress)
    course = session.current()
    device = _training_device(model, device, course)
    retrain = bool(course.retrain if (retrain is None and course is not None) else retrain)
    if isinstance(early_stopping, bool):
        raise TypeError("early_stopping takes a patience (int) or an EarlyStopping, not a bool")
    if isinstance(early_stopping, int):
        early_stopping = EarlyStopping(patience=early_stopping)
    monitor = _resolve_monitor(monitor, early_stopping, has_validation=val_loader is not None)
    _check_monitor_fits(monitor, train_loader, scheduler)
    use_amp = _use_amp(amp, device)
    model.to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    step = _Step(model, loss_fn, output_hook or standard_output, device, use_amp)
    tracker = _BestTracker(monitor, early_stopping.min_delta if early_stopping else 0.0, keep_weights=restore_best)
    resumable = _Resumable(model, optimizer, scheduler, scaler, tracker, train_loader)
    run_metadata = _run_metadata(metadata, train_loader, model, optimizer, scheduler, course, epochs, monitor)
    history = History()
    data_seed = initial_data_seed(train_loader)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    say = print if progress != "off" else (lambda *args, **kwargs: None)

    if checkpoint is not None and checkpoint.exists():
        if retrain:
            say(f"Retraining: {checkpoint} will be replaced after the first epoch.")
        else:
            state = load_checkpoint(checkpoint)
            stored = state.get("metadata", {})
            check_metadata_compatible(checkpoint, stored, run_metadata)
            if state["epoch"] >= epochs or stored.get("stopped_early"):
                weights = final_weights(state)
                check_model_compatible(checkpoint, model, weights)
                model.load_state_dict(weights)
                model.eval()
                say(
                    f"Loaded {checkpoint} ({state['epoch']} epochs trained) instead of training. "
                    "Pass retrain=True or set COURSE_RETRAIN=1 to train again."
                )
                return History(state["history"], from_checkpoint=True, stopped_early=bool(stored.get("stopped_early")))
            if resume:
                resumable.restore(checkpoint, state, say)
                history, data_seed = History(state["history"]), state["data_seed"]
                say(f"Resuming from {checkpoint} after epoch {state['epoch']}/{epochs}.")
            else:
                say(f"resume=False: starting over; {checkpoint} will be replaced after the first epoch.")

    bar = _Progress(progress, epochs, start_epoch=len(history))
    try:
        for epoch in range(len(history) + 1, epochs + 1):
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            seed_data_order(train_loader, data_seed, epoch)
            train = _train_epoch(step, train_loader, optimizer, scaler, grad_clip, bar, f"epoch {epoch} train")
            val = _validate(step, val_loader, bar, f"epoch {epoch} val") if val_loader is not None else None
            record = _epoch_record(epoch, train, val, lr, time.perf_counter() - started)
            history.append(record)
            tracker.update(record, model)
            _step_scheduler(scheduler, record[monitor])
            stop = early_stopping is not None and tracker.bad_epochs >= early_stopping.patience and epoch < epochs
            finished = stop or epoch == epochs
            if checkpoint is not None:
                run_metadata.update(
                    finished=finished, stopped_early=stop, restored_best=restore_best and finished,
                    best_epoch=tracker.best_epoch, saved_at=timestamp(),
                )  # fmt: skip
                save_checkpoint(checkpoint, resumable.state(epoch, data_seed, history, run_metadata))
            bar.epoch_done(record)
            if stop:
                history.stopped_early = True
                bar.say(f"Early stopping: {monitor} has not improved for {early_stopping.patience} epochs.")
                break
    finally:
        bar.close()
    if restore_best:
        tracker.restore(model)
        bar.say(f"Restored the weights of epoch {tracker.best_epoch} (best {monitor}).")
    model.eval()
    return history


def _training_device(model: nn.Module, device: str | torch.device | None, course: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    if course is not None:
        return course.device
    return model_device(model)


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    if amp is None:
        return device.type == "cuda"
    if amp and device.type != "cuda":
        warnings.warn(f"amp=True needs a CUDA device; training in full precision on {device.type}", stacklevel=3)
        return False
    return bool(amp)


def _resolve_monitor(monitor: str | None, early_stopping: EarlyStopping | None, has_validation: bool) -> str:
    wanted = early_stopping.monitor if early_stopping is not None else None
    if monitor is not None and wanted is not None and monitor != wanted:
        raise ValueError(f"monitor={monitor!r} but early_stopping monitors {wanted!r}: give it once")
    monitor = monitor or wanted or ("val_loss" if has_validation else "train_loss")
    if monitor not in METRICS:
        raise ValueError(f"cannot monitor {monitor!r}: choose one of {', '.join(METRICS)}")
    if monitor.startswith("val_") and not has_validation:
        raise ValueError(f"monitoring {monitor!r} needs a val_loader")
    return monitor


def _check_monitor_fits(monitor: str, train_loader: Iterable[Any], scheduler: Any) -> None:
    """Refuse, before any training, a monitor that cannot work with this data or scheduler."""
    classes = dataset_classes(train_loader)
    if monitor.endswith("_top5") and classes is not None and len(classes) <= 5:
        raise ValueError(f"cannot monitor {monitor!r}: top-5 accuracy is only kept with more than 5 classes")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and scheduler.mode != metric_mode(monitor):
        raise ValueError(
            f"ReduceLROnPlateau(mode={scheduler.mode!r}) would treat an improving {monitor!r} as a plateau: "
            f"create it with mode={metric_mode(monitor)!r}"
        )


def _step_scheduler(scheduler: Any, monitored_value: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored_value)
    else:
        scheduler.step()


def _run_metadata(
    metadata: Mapping[str, Any] | None,
    train_loader: Iterable[Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    course: Any,
    epochs: int,
    monitor: str,
) -> dict[str, Any]:
    given = plain_metadata(metadata or {})
    reserved = sorted(set(given) & set(RUN_METADATA_KEYS))
    if reserved:
        raise ValueError(f"metadata keys {reserved} are written by fit() itself")
    return {
        "classes": dataset_classes(train_loader),
        **given,
        "model_class": type(model).__name__,
        "optimizer": type(optimizer).__name__,
        "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "profile": course.profile.name if course is not None else None,
        "epochs": epochs,
        "monitor": monitor,
        "finished": False,
        "stopped_early": False,
        "restored_best": False,
        "best_epoch": None,
        "torch_version": str(torch.__version__),
        "saved_at": None,
    }


@dataclass
class _Resumable:
    """The objects whose state a checkpoint saves after every epoch and a resume puts back."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    tracker: _BestTracker
    train_loader: Iterable[Any]

    def state(self, epoch: int, data_seed: int, history: History, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Everything needed to continue after ``epoch`` exactly as if never interrupted."""
        return {
            "epoch": epoch,
            "data_seed": data_seed,
            "model": self.model.state_dict(),
            "best_model": self.tracker.best_weights,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "tracker": self.tracker.state(),
            "rng": capture_rng_state(self.train_loader),
            "history": history.records(),
            "metadata": dict(metadata),
        }

    def restore(self, path: Path, state: Mapping[str, Any], say: Callable[[str], None]) -> None:
        """Put back what :meth:`state` saved, refusing a checkpoint made for another model or optimiser."""
        stored = state.get("metadata", {})
        check_model_compatible(path, self.model, state["model"])
        in_use = {
            "optimizer": type(self.optimizer).__name__,
            "scheduler": type(self.scheduler).__name__ if self.scheduler else None,
        }
        for key, current in in_use.items():
            if stored.get(key) != current:
                raise CheckpointError(path, f"was trained with {key} {stored.get(key)}, but this run uses {current}.")
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(path, f"optimizer or scheduler state does not fit this run ({error}).") from error
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.tracker.load(state["tracker"], state.get("best_model"))
        for problem in restore_rng_state(state["rng"], self.train_loader):
            say(f"Note: {problem}.")
