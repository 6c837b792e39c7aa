"""The course's training loop: :func:`train_one_epoch` and :func:`validate`, and :func:`fit` built from them.

    history = fit(model, train_loader, val_loader, loss_fn=nn.CrossEntropyLoss(),
                  optimizer=optimizer, epochs=course.profile.epochs,
                  checkpoint=course.checkpoint_path("lenet5_cats_dogs"))
    history.to_frame()

After every epoch the whole training state is saved atomically to ``checkpoint``. Running the same
cell again continues an interrupted run exactly where it stopped (on the CPU the result equals an
uninterrupted run), and a finished run is loaded instead of trained ("present" mode), unless
``retrain=True`` or ``COURSE_RETRAIN=1``. The machinery lives beside this file: ``checkpoints.py``
(saving, resuming), ``progress.py`` (bars), ``history.py`` (records, early stopping).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from . import distributed, session
from .checkpoints import TrainingRun, run_metadata
from .evaluation import RunningMetrics
from .history import BestTracker, EarlyStopping, History, epoch_record, plan_monitoring
from .inspection import model_device
from .progress import Progress, progress_mode

__all__ = ["EarlyStopping", "History", "fit", "googlenet_aux_loss", "train_mode", "train_one_epoch", "validate"]

OutputHook = Callable[[Any, torch.Tensor, Callable[..., torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]
"""``hook(outputs, labels, loss_fn) -> (loss, logits)``: turns what the model returned into a loss
to minimise and the class scores used for accuracy. Called in training and validation."""


def standard_output(outputs: Any, labels: torch.Tensor, loss_fn: Callable[..., torch.Tensor]):
    """The default output hook: the model returns class scores (logits or log-probabilities)."""
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(
            f"The model returned a {type(outputs).__name__} instead of a tensor of class scores. "
            "For GoogLeNet/Inception auxiliary outputs pass output_hook=googlenet_aux_loss(); "
            "otherwise pass an output_hook(outputs, labels, loss_fn) -> (loss, logits)."
        )
    return loss_fn(outputs, labels), outputs


def googlenet_aux_loss(aux_weight: float = 0.3) -> OutputHook:
    """An output hook for models with auxiliary classifiers (torchvision GoogLeNet, Inception v3).

    In training mode such a model returns ``(logits, aux..., )``; the loss is
    ``loss(logits) + aux_weight * sum(loss(aux))`` and accuracy uses ``logits``. In eval mode the
    model returns plain logits and the hook computes the ordinary loss.
    """

    def hook(outputs: Any, labels: torch.Tensor, loss_fn: Callable[..., torch.Tensor]):
        if isinstance(outputs, torch.Tensor):
            return loss_fn(outputs, labels), outputs
        logits, *auxiliary = outputs
        loss = loss_fn(logits, labels)
        for aux_logits in auxiliary:
            if aux_logits is not None:
                loss = loss + aux_weight * loss_fn(aux_logits, labels)
        return loss, logits

    hook.__name__ = hook.__qualname__ = f"googlenet_aux_loss(aux_weight={aux_weight})"
    return hook


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, except that modules whose parameters are all frozen stay in eval mode.

    A frozen backbone (feature extraction) then keeps its BatchNorm running statistics and has no
    dropout, exactly as it was; a module without parameters (ReLU, Dropout) follows its parent.
    """
    model.train()
    for module in model.modules():  # parents before children: a frozen block turns all of its layers off
        parameters = list(module.parameters())
        if parameters and not any(parameter.requires_grad for parameter in parameters):
            module.eval()
    return model


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[Any],
    loss_fn: Callable[..., torch.Tensor],
    optimizer: torch.optim.Optimizer,
    device: str | torch.device | None = None,
    *,
    scaler: torch.amp.GradScaler | None = None,
    grad_clip: float | None = None,
    output_hook: OutputHook | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """One pass over ``loader`` that updates ``model``; returns the epoch's ``loss``, ``acc`` (and ``top5``).

    This is the lecture's ``train_model`` loop. The epoch loss is the sum of every sample's loss
    divided by the number of samples, so a short last batch counts for what it holds. The lecture
    adds ``loss.item() * inputs.size(0)`` after every batch; ``metrics.update`` adds
    ``loss.detach() * batch_size`` instead, on the device, so the GPU is not waited for after every
    batch: the sums are read once, at the end of the epoch. ``top5`` is there with more than 5 classes.

    ``device`` defaults to where the model is. ``scaler``: a ``torch.amp.GradScaler("cuda")`` for
    mixed precision (autocast on while it is enabled); ``grad_clip``: clip the gradient norm;
    ``output_hook``: see :func:`fit`; ``progress``: a :class:`~course_utils.progress.Progress` (default silent).
    """
    device = torch.device(device) if device is not None else model_device(model)
    compute_loss = output_hook or standard_output
    scaler = scaler or torch.amp.GradScaler("cuda", enabled=False)
    progress = progress or Progress(False)
    train_mode(model)  # model.train(), but frozen layers stay as they are
    metrics = RunningMetrics(device, loss_fn)
    for inputs, labels, *_ in progress.batches(loader, "train"):
        inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=scaler.is_enabled()):
            loss, outputs = compute_loss(model(inputs), labels, loss_fn)
        scaler.scale(loss).backward()  # without mixed precision: loss.backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)  # optimizer.step(), skipped when a mixed-precision gradient overflowed
        scaler.update()
        metrics.update(outputs, labels, loss)  # epoch loss += loss * batch size; corrects += (argmax == labels).sum()
        progress.show(metrics)
    metrics.all_reduce()  # under torchrun: the sums of every process, so the epoch's figures are global
    return metrics.result()


def validate(
    model: nn.Module,
    loader: Iterable[Any],
    loss_fn: Callable[..., torch.Tensor],
    device: str | torch.device | None = None,
    *,
    amp: bool = False,
    output_hook: OutputHook | None = None,
    progress: Progress | None = None,
) -> dict[str, float]:
    """One pass over ``loader`` in eval mode without gradients; returns ``loss``, ``acc`` (and ``top5``).

    For a full report (confusion matrix, per-class accuracy, probabilities) use
    :func:`~course_utils.evaluation.evaluate`. ``amp``: compute under autocast, as training did.
    """
    device = torch.device(device) if device is not None else model_device(model)
    compute_loss = output_hook or standard_output
    progress = progress or Progress(False)
    model.eval()
    metrics = RunningMetrics(device, loss_fn)
    with torch.inference_mode():
        for inputs, labels, *_ in progress.batches(loader, "val"):
            inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=amp):
                loss, outputs = compute_loss(model(inputs), labels, loss_fn)
            metrics.update(outputs, labels, loss)
            progress.show(metrics)
    metrics.all_reduce()
    return metrics.result()


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

    Each epoch is :func:`train_one_epoch` then :func:`validate` (when there is a ``val_loader``).

    - ``loss_fn``: e.g. ``nn.CrossEntropyLoss()`` on logits or ``nn.NLLLoss()`` on log-probabilities
      (reduction ``"mean"`` or ``"sum"``). Epoch losses are per-sample means over the whole epoch.
    - ``scheduler``: stepped once per epoch; ``ReduceLROnPlateau`` receives the monitored metric.
    - ``device``: defaults to ``setup()``'s device, else where the model already is. Batches are
      copied with ``non_blocking=True`` (use ``pin_memory=True`` in the loader on CUDA).
    - ``checkpoint``: a file to save the full training state to after every epoch (atomically).
      If it exists: a finished run is loaded without training ("present" mode, no optimizer step);
      an interrupted one is continued when ``resume`` (else started over); an unreadable or
      mismatched one raises :class:`~course_utils.checkpoints.CheckpointError` and is left untouched.
      ``retrain=True`` (default: ``COURSE_RETRAIN``) ignores the file and replaces it after the
      first epoch. Asking for more ``epochs`` than a finished run had continues it.
    - ``metadata``: extra values for the checkpoint. Class names, input size and mean/std are
      derived from ``train_loader.dataset`` and its transform (``data_metadata``); a checkpoint
      whose classes, input size or normalisation differ is refused.
    - ``grad_clip``: clip the gradient norm to this value.
    - ``early_stopping``: an :class:`EarlyStopping`, or just a patience (monitoring ``monitor``).
    - ``monitor``: the metric for early stopping, ``restore_best`` and ``ReduceLROnPlateau``
      (default: the early stopping's, else ``"val_loss"``, or ``"train_loss"`` without validation).
    - ``restore_best``: end with the weights of the best epoch instead of the last.
    - ``amp``: mixed precision (autocast + GradScaler); default on for CUDA, always off elsewhere.
    - ``output_hook``: ``hook(outputs, labels, loss_fn) -> (loss, logits)`` for models that do not
      return plain class scores, e.g. :func:`googlenet_aux_loss` for GoogLeNet's auxiliary heads.
    - ``progress``: ``True`` shows tqdm bars in notebooks and terminals and one line per epoch in
      logs (CI, or ``TQDM_DISABLE=1``); ``"bars"``/``"lines"`` force either; ``False`` is silent.

    Layers whose parameters are all frozen stay in eval mode (:func:`train_mode`). Returns with the
    model in eval mode, ready for :func:`~course_utils.evaluation.evaluate`.

    The first epoch shuffles as the train loader does on its own, so a hand-written loop over the
    same freshly seeded loader sees the same batches. Resuming is exact on the CPU (see
    :class:`~course_utils.checkpoints.TrainingRun`): an interrupted and resumed run ends with the
    same history and weights as an uninterrupted one.

    The same call trains on several GPUs (or CPU processes) when the script runs under ``torchrun
    --nproc_per_node=N``: DistributedDataParallel, each process its share of the data, global
    epoch figures, and only process 0 printing and saving (:mod:`course_utils.distributed`).
    """
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    progress = progress_mode(progress)
    course = session.current()
    device = torch.device(device or (course.device if course is not None else model_device(model)))
    device = distributed.start(device)  # under torchrun: join the other processes, one GPU each
    if not distributed.is_main_process():
        progress = "off"  # only process 0 prints (and writes checkpoints)
    train_loader, val_loader = distributed.shard(train_loader, train=True), distributed.shard(val_loader, train=False)
    retrain = bool(course.retrain if (retrain is None and course is not None) else retrain)
    monitor, early_stopping = plan_monitoring(monitor, early_stopping, train_loader, val_loader, scheduler)
    model.to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=_use_amp(amp, device))
    best = BestTracker(monitor, early_stopping.min_delta if early_stopping else 0.0, keep_weights=restore_best)
    profile = course.profile.name if course is not None else None
    about = run_metadata(metadata, train_loader, model, optimizer, scheduler, profile, epochs, monitor)
    run = TrainingRun(checkpoint, model, optimizer, scheduler, scaler, best, train_loader, about)
    if run.start(epochs, resume=resume, retrain=retrain, say=print if progress != "off" else lambda text: None):
        return run.history  # a finished run, loaded instead of trained

    progress = Progress(progress, epochs, start_epoch=len(run.history))
    trained = distributed.wrap(model, device)  # DistributedDataParallel under torchrun, else the model itself
    try:
        for epoch in range(len(run.history) + 1, epochs + 1):
            started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            distributed.seed_epoch(run.data_seed, epoch)
            run.seed_data_order(epoch)
            train = train_one_epoch(trained, train_loader, loss_fn, optimizer, device, scaler=scaler,
                                    grad_clip=grad_clip, output_hook=output_hook, progress=progress)  # fmt: skip
            distributed.broadcast_buffers(model)  # every process validates with process 0's BatchNorm statistics
            val = validate(model, val_loader, loss_fn, device, amp=scaler.is_enabled(), output_hook=output_hook,
                           progress=progress) if val_loader is not None else None  # fmt: skip
            record = epoch_record(epoch, train, val, lr, seconds=time.perf_counter() - started)
            run.history.append(record)
            best.update(record, model)
            _step_scheduler(scheduler, record[monitor])
            stop = early_stopping is not None and best.bad_epochs >= early_stopping.patience and epoch < epochs
            finished = stop or epoch == epochs
            run.save(epoch, finished=finished, stopped_early=stop, restored_best=restore_best and finished)
            progress.epoch_done(record)
            if stop:
                run.history.stopped_early = True
                progress.say(f"Early stopping: {monitor} has not improved for {early_stopping.patience} epochs.")
                break
    finally:
        progress.close()
    if restore_best:
        best.restore(model)
        progress.say(f"Restored the weights of epoch {best.best_epoch} (best {monitor}).")
    model.eval()
    return run.history


def _use_amp(amp: bool | None, device: torch.device) -> bool:
    if amp is None:
        return device.type == "cuda"
    if amp and device.type != "cuda":
        warnings.warn(f"amp=True needs a CUDA device; training in full precision on {device.type}", stacklevel=3)
        return False
    return bool(amp)


def _step_scheduler(scheduler: Any, monitored_value: float) -> None:
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored_value)
    else:
        scheduler.step()
