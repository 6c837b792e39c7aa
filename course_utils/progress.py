"""What ``fit`` shows while it trains: tqdm bars in notebooks and terminals, one line per epoch in logs.

``progress=True`` picks the bars where someone watches (Jupyter, Colab, a terminal) and plain lines
elsewhere (a CI log, or ``TQDM_DISABLE=1``); ``"bars"`` and ``"lines"`` force either; ``False`` is silent.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from tqdm.auto import tqdm

from .checkpoints import iterate_quietly
from .evaluation import RunningMetrics
from .history import is_missing

ProgressMode = Literal["bars", "lines", "off"]


def interactive() -> bool:
    """A notebook (Jupyter, Colab) or a terminal; not a CI log, and not when ``TQDM_DISABLE`` is set."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell"):  # Jupyter, Colab
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_mode(progress: bool | str) -> ProgressMode:
    """``True`` -> ``"bars"`` when :func:`interactive`, else ``"lines"``; ``False`` -> ``"off"``."""
    if progress is True:
        return "bars" if interactive() else "lines"
    if progress is False:
        return "off"
    if progress not in ("bars", "lines", "off"):
        raise ValueError(f"progress must be True, False, 'bars', 'lines' or 'off', not {progress!r}")
    return progress  # type: ignore[return-value]


def format_epoch(record: Mapping[str, Any], epochs: int) -> str:
    """One summary line, e.g. ``epoch  3/10 | train loss 0.4321 acc 81.25% | val ... | lr 1.0e-02 | 2.1s``."""
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}"]
    for split in ("train", "val"):
        if is_missing(record.get(f"{split}_loss")):
            continue
        text = f"{split} loss {record[f'{split}_loss']:.4f} acc {record[f'{split}_acc']:.2%}"
        if f"{split}_top5" in record:
            text += f" top-5 {record[f'{split}_top5']:.2%}"
        parts.append(text)
    parts += [f"lr {record['lr']:.2e}", f"{record['seconds']:.1f}s"]
    return " | ".join(parts)


class Progress:
    """``"bars"``: tqdm epoch and batch bars plus a line per epoch; ``"lines"``: a line per epoch; ``"off"``.

    ``Progress(False)`` is the silent one ``train_one_epoch`` and ``validate`` use when given none.
    """

    POSTFIX_INTERVAL = 0.5  # seconds between running-metric updates (each one waits for the GPU)

    def __init__(self, mode: bool | str = False, epochs: int = 1, start_epoch: int = 0) -> None:
        self.mode = progress_mode(mode)
        self.epochs = epochs
        self.epochs_done = start_epoch
        self.epoch_bar = None
        if self.mode == "bars":
            self.epoch_bar = tqdm(total=epochs, initial=start_epoch, desc="epochs", unit="epoch", dynamic_ncols=True)
        self.batch_bar: Any = None
        self._last_postfix = 0.0

    def batches(self, loader: Iterable[Any], split: str) -> Iterator[Any]:
        """The loader's batches for one pass (``split``: ``"train"`` or ``"val"``), behind a bar in ``"bars"`` mode."""
        if self.mode != "bars":
            yield from iterate_quietly(loader)
            return
        self.batch_bar = tqdm(
            iterate_quietly(loader), desc=f"epoch {self.epochs_done + 1} {split}", total=_length(loader),
            unit="batch", leave=False, mininterval=self.POSTFIX_INTERVAL, dynamic_ncols=True,
        )  # fmt: skip
        try:
            yield from self.batch_bar
        finally:
            self._close_batch_bar()

    def show(self, metrics: RunningMetrics) -> None:
        """The running loss and accuracy on the batch bar, at most every ``POSTFIX_INTERVAL`` seconds."""
        if self.batch_bar is None:
            return
        now = time.monotonic()
        if now - self._last_postfix >= self.POSTFIX_INTERVAL:
            self._last_postfix = now
            self.batch_bar.set_postfix(loss=f"{metrics.loss:.4f}", acc=f"{metrics.accuracy:.2%}", refresh=False)

    def epoch_done(self, record: Mapping[str, Any]) -> None:
        self.epochs_done += 1
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
        """Close the bars, also after an interruption in the middle of an epoch."""
        self._close_batch_bar()
        if self.epoch_bar is not None:
            self.epoch_bar.close()

    def _close_batch_bar(self) -> None:
        if self.batch_bar is not None:
            self.batch_bar.close()
            self.batch_bar = None


def _length(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None
