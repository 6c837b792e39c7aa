"""Checkpoints that survive disconnects: atomic writes, a content digest, ``weights_only`` loading.

A checkpoint is a plain dictionary saved with :func:`torch.save`. :func:`save_checkpoint` writes it
to a temporary file in the destination folder, flushes and fsyncs it, and only then renames it over
the old file with :func:`os.replace`, so a crash at any moment leaves either the old or the new
checkpoint, never a half-written one. Every checkpoint carries a digest of its content;
:func:`load_checkpoint` loads with ``torch.load(..., weights_only=True)`` (no code runs while
loading) and recomputes the digest, so a truncated, bit-flipped or foreign file raises
:class:`CheckpointError` instead of silently loading wrong weights.

Everything stored must be loadable under ``weights_only``: tensors, numbers, strings, ``None`` and
lists/tuples/dicts of them. RNG states are therefore stored as tensors and plain lists.

:class:`TrainingRun` is what ``fit`` keeps in such a file: the model, optimiser, scheduler, scaler,
best epoch, random states, data seed, history and metadata (class names, input size and
normalisation derived from the training data). It decides how a run begins (new, resumed, or a
finished run presented instead of trained), seeds each epoch's data order, and saves after every epoch.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import os
import random
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision import transforms as v1
from torchvision.transforms import v2

from . import distributed
from .atomic import atomic_path
from .evaluation import dataset_classes
from .history import BestTracker, History
from .transforms import normalization_of

FORMAT = "course_utils.checkpoint"
VERSION = 1
RETRAIN_ADVICE = (
    "Pass retrain=True (or set COURSE_RETRAIN=1) to train from scratch and replace it, "
    "or delete the file."
)
COMPARED_METADATA = ("classes", "input_size", "mean", "std")
"""Metadata that must agree between a checkpoint and the run that loads it (derived from the training data)."""
RUN_METADATA_KEYS = (
    "model_class", "optimizer", "scheduler", "profile", "epochs", "monitor",
    "finished", "stopped_early", "restored_best", "best_epoch", "torch_version", "saved_at",
)  # fmt: skip
"""Metadata that ``fit`` writes itself; callers may add their own keys with ``metadata=``."""
SAFE_LEAVES = (bool, int, float, complex, str, bytes, torch.dtype, torch.device)
SAFE_MAPPINGS = (dict, OrderedDict, Counter)
SAFE_SEQUENCES = (list, tuple, torch.Size)
"""Exact types (not subclasses) a checkpoint may hold besides tensors and ``None``."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, tampered with, or made for another model or data."""

    def __init__(self, path: str | Path | None, problem: str, advice: str = RETRAIN_ADVICE) -> None:
        where = f"Checkpoint {path}" if path is not None else "Checkpoint"
        super().__init__(f"{where}: {problem}" + (f"\n{advice}" if advice else ""))
        self.path = None if path is None else Path(path)
        self.problem = problem


# --------------------------------------------------------------------------- writing and reading


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Atomically write ``state`` (a dict of weights-only-safe values) to ``path``; return the path.

    The previous file at ``path``, if any, stays intact until the new one is completely on disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {key: value for key, value in state.items() if key != "digest"}
    content.update(format=FORMAT, version=VERSION)
    content = _to_cpu(content)
    content["digest"] = content_digest(content)

    with atomic_path(path, suffix=".tmp") as temporary:
        torch.save(content, temporary)
    _remove_stale_temporaries(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and verify a checkpoint written by :func:`save_checkpoint` (tensors on the CPU).

    Raises :class:`CheckpointError` for a missing, truncated, tampered-with or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "file not found.", advice="")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, bad pickle, or a payload weights_only refuses
        raise CheckpointError(path, f"cannot be read safely ({_short_reason(error)}).") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(path, "is not a course_utils checkpoint.")
    if state.get("version") != VERSION:
        raise CheckpointError(path, f"has format version {state.get('version')!r}; this code reads {VERSION}.")
    stored = state.pop("digest", None)
    if stored != content_digest(state):
        raise CheckpointError(path, "content does not match its digest: the file is corrupt or was modified.")
    return state


def _short_reason(error: BaseException) -> str:
    """The informative line of a loading error (weights_only errors open with generic advice)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "WeightsUnpickler error" in line), lines[0] if lines else "")
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def content_digest(value: Any) -> str:
    """A SHA-256 over a nested structure of tensors and plain values, stable across save and load.

    Raises :class:`TypeError` for a value ``weights_only`` loading would refuse, so such a
    checkpoint is never written.
    """
    hasher = hashlib.sha256()
    _feed(hasher, value)
    return hasher.hexdigest()


def _feed(hasher: Any, value: Any) -> None:
    kind = type(value)
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        hasher.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        if tensor.numel():
            hasher.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif kind in SAFE_MAPPINGS:
        hasher.update(f"D{len(value)}".encode())
        for key, item in value.items():
            _feed(hasher, key)
            _feed(hasher, item)
    elif kind in SAFE_SEQUENCES:
        hasher.update(f"{kind.__name__}{len(value)}".encode())
        for item in value:
            _feed(hasher, item)
    elif value is None or kind in SAFE_LEAVES:
        hasher.update(f"V{kind.__name__}:{value!r}".encode())
    else:
        raise TypeError(
            f"cannot store a {kind.__module__}.{kind.__qualname__} in a checkpoint: torch.load(weights_only=True) "
            "reads only tensors, numbers, strings, None and lists/tuples/dicts of them"
        )


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_cpu(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_to_cpu(item) for item in value)
    return value


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files left behind by a process killed in the middle of a save."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        leftover.unlink(missing_ok=True)


# --------------------------------------------------------------------------- metadata


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Convert metadata to values ``weights_only`` loads (tuples, paths, numpy and sizes become plain).

    Raises :class:`TypeError` for values that cannot be stored safely.
    """
    return {str(key): _plain(value, str(key)) for key, value in metadata.items()}


def _plain(value: Any, where: str) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    for plain_type in (bool, int, float, str):  # subclasses such as enums or torch's version string
        if isinstance(value, plain_type):
            return plain_type(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):  # torch.Size is a tuple too
        return [_plain(item, where) for item in value]
    raise TypeError(f"metadata {where!r}: cannot store a {type(value).__name__} in a checkpoint")


def timestamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def check_metadata_compatible(path: str | Path | None, stored: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Refuse a checkpoint whose class names, input size or normalisation differ from this run's."""
    for key in COMPARED_METADATA:
        if stored.get(key) is not None and current.get(key) is not None and stored[key] != current[key]:
            raise CheckpointError(path, f"was made with {key}={stored[key]!r}, but this run uses {current[key]!r}.")


SIZE_STEPS = (
    v1.Resize, v1.CenterCrop, v1.RandomCrop, v1.RandomResizedCrop,
    v2.Resize, v2.CenterCrop, v2.RandomCrop, v2.RandomResizedCrop,
)  # fmt: skip
"""Transform steps that set the image size."""


def data_metadata(data: Any) -> dict[str, Any]:
    """``classes``, ``input_size`` and ``mean``/``std`` of the data a model is trained on: a loader or its dataset.

    Class names come from the dataset's ``classes``; ``mean``/``std`` from the ``Normalize`` step of
    its ``transform`` (no step: ``(0, 0, 0)``/``(1, 1, 1)``); ``input_size`` (C, H, W) is the shape
    of one sample, read without drawing random numbers, unless the transform's last resizing step
    leaves the size open (``Resize(256)`` sets only the shorter side). ``Subset``-like wrappers are
    looked through. What cannot be derived (a dataset without ``transform`` has no mean/std) is left out.
    """
    dataset = getattr(data, "dataset", data)
    derived: dict[str, Any] = {}
    classes = dataset_classes(dataset)
    if classes is not None:
        derived["classes"] = classes
    holder = _attribute_holder(dataset, "transform")
    transform = getattr(holder, "transform", None)
    shape = None if _leaves_size_open(transform) else _sample_shape(dataset)
    if shape is not None:
        derived["input_size"] = shape
    if holder is not None:
        mean, std = normalization_of(transform)
        derived.update(mean=list(mean), std=list(std))
    return derived


def _attribute_holder(dataset: Any, name: str) -> Any:
    """``dataset`` or the first dataset it wraps (``Subset``: ``.dataset``) that has attribute ``name``."""
    for _ in range(8):
        if dataset is None or hasattr(dataset, name):
            return dataset
        dataset = getattr(dataset, "dataset", None)
    return None


def _transform_steps(transform: Any) -> Iterator[Any]:
    yield transform
    for step in getattr(transform, "transforms", None) or []:
        yield from _transform_steps(step)


def _leaves_size_open(transform: Any) -> bool:
    resizing = [step for step in _transform_steps(transform) if isinstance(step, SIZE_STEPS)]
    if not resizing or not isinstance(resizing[-1], (v1.Resize, v2.Resize)):
        return False
    size = resizing[-1].size
    return size is None or isinstance(size, int) or len(size) == 1


def _sample_shape(dataset: Any) -> list[int] | None:
    """The shape of ``dataset[0]``'s input, or ``None`` when it is no tensor or cannot be read."""
    random_state = capture_rng_state()  # a random crop or flip must not shift the run's random numbers
    try:
        sample = dataset[0]
    except Exception:  # an iterable, empty or failing dataset: the size stays unknown, training reports the failure
        return None
    finally:
        restore_rng_state(random_state)
    inputs = sample[0] if isinstance(sample, (tuple, list)) else sample
    return list(inputs.shape) if isinstance(inputs, torch.Tensor) else None


def run_metadata(
    extra: Mapping[str, Any] | None,
    train_loader: Iterable[Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    profile: str | None,
    epochs: int,
    monitor: str,
) -> dict[str, Any]:
    """What ``fit`` stores about a run: :func:`data_metadata`, then ``extra`` (``fit``'s ``metadata=``, which may
    override it), then the run's own fields (:data:`RUN_METADATA_KEYS`)."""
    given = plain_metadata(extra or {})
    reserved = sorted(set(given) & set(RUN_METADATA_KEYS))
    if reserved:
        raise ValueError(f"metadata keys {reserved} are written by fit() itself")
    return {
        **plain_metadata(data_metadata(train_loader)),
        **given,
        "model_class": type(model).__name__,
        "optimizer": type(optimizer).__name__,
        "scheduler": type(scheduler).__name__ if scheduler is not None else None,
        "profile": profile,
        "epochs": epochs,
        "monitor": monitor,
        "finished": False,
        "stopped_early": False,
        "restored_best": False,
        "best_epoch": None,
        "torch_version": str(torch.__version__),
        "saved_at": None,
    }


# --------------------------------------------------------------------------- model weights


def check_model_compatible(path: str | Path | None, model: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights whose parameter names or shapes differ from ``model``'s, listing the differences."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    resized = [
        f"{key} {tuple(weights[key].shape)} vs {tuple(tensor.shape)}"
        for key, tensor in expected.items()
        if key in weights and isinstance(tensor, torch.Tensor) and tuple(weights[key].shape) != tuple(tensor.shape)
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("different shape", resized)):
        if items:
            shown = ", ".join(items[:4]) + (f", ... ({len(items)} in all)" if len(items) > 4 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise CheckpointError(
            path,
            f"holds weights for a different architecture than {type(model).__name__} (" + "; ".join(problems) + ").",
        )


def final_weights(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The weights a training run ended with: the best epoch's when ``restore_best`` was used."""
    if state.get("metadata", {}).get("restored_best") and state.get("best_model") is not None:
        return state["best_model"]
    return state["model"]


def load_model_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load the final weights of the checkpoint at ``path`` into ``model``; return its metadata.

    For notebooks that only need trained weights, e.g. ``meta = load_model_weights(model, path)``
    followed by ``meta["classes"]``. Raises :class:`CheckpointError` for an unusable file.
    """
    state = load_checkpoint(path)
    weights = final_weights(state)
    check_model_compatible(path, model, weights)
    model.load_state_dict(weights)
    return dict(state.get("metadata", {}))


# --------------------------------------------------------------------------- random number generators


def loader_generator(loader: Any) -> torch.Generator | None:
    """The DataLoader's own generator (it seeds the worker processes each epoch), if it has one."""
    generator = getattr(loader, "generator", None)
    return generator if isinstance(generator, torch.Generator) else None


def capture_rng_state(loader: Any = None) -> dict[str, Any]:
    """Python, NumPy, torch (CPU and CUDA) and the loader's generator states, as weights-only-safe values.

    (The order in which ``fit`` shuffles the data does not depend on these: it seeds the sampler
    for every epoch from the run's data seed.)
    """
    kind, key, position, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64).copy()),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": None,
    }
    generator = loader_generator(loader)
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def restore_rng_state(state: Mapping[str, Any], loader: Any = None) -> list[str]:
    """Restore what :func:`capture_rng_state` captured; return warnings about what could not be restored."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["key"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    warnings = []
    cuda_states = list(state.get("cuda", []))
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        else:
            warnings.append("the number of GPUs changed, so CUDA random numbers differ from the original run")
    generator, saved = loader_generator(loader), state.get("loader")
    if generator is not None and saved is not None:
        generator.set_state(saved)
    elif generator is not None or saved is not None:
        warnings.append("the training DataLoader's generator setup changed, so worker seeds differ from the first run")
    return warnings


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
    """The shuffling seed of one epoch: ``data_seed`` itself for epoch 1, then seeds that runs with
    nearby data seeds never share (unlike ``data_seed + epoch``)."""
    if epoch == 1:
        return data_seed
    return int(np.random.SeedSequence([data_seed % 2**64, epoch]).generate_state(1, dtype=np.uint64)[0])


def seed_data_order(loader: Iterable[Any], data_seed: int, epoch: int) -> None:
    """Make epoch ``epoch``'s shuffling depend only on ``(data_seed, epoch)``.

    In epoch 1 a random sampler shuffles with the loader's own generator reset to ``data_seed``
    (its seed), exactly like a freshly made loader in a hand-written loop. In later epochs it gets
    a generator of its own seeded with :func:`epoch_seed`, so epoch k sees the same order whether
    the run was interrupted or not, whatever the loader drew before. Samplers with ``set_epoch``
    (``DistributedSampler``) are told the epoch.
    """
    generator = loader_generator(loader)
    samplers = [getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    seen: list[Any] = []
    for sampler in samplers:
        if sampler is None or any(sampler is known for known in seen):
            continue
        seen.append(sampler)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        elif hasattr(sampler, "generator") and epoch == 1 and generator is not None:
            sampler.generator = generator.manual_seed(epoch_seed(data_seed, 1))
        elif hasattr(sampler, "generator"):
            sampler.generator = torch.Generator().manual_seed(epoch_seed(data_seed, epoch))


# --------------------------------------------------------------------------- the run a checkpoint holds


@dataclass
class TrainingRun:
    """A training run as its checkpoint file holds it, and the decisions that file drives.

    ``fit`` makes one, calls :meth:`start` once, then :meth:`seed_data_order` before and
    :meth:`save` after every epoch. ``path=None`` keeps no file. ``metadata`` is
    :func:`run_metadata`'s; ``history`` and ``data_seed`` are those of a new run until
    :meth:`start` resumes or presents a stored one.

    Resuming is exact on the CPU: the checkpoint holds the Python, NumPy and torch random states
    and the loader generator's, and each epoch's shuffling depends only on the run's data seed and
    the epoch number (:func:`seed_data_order`), so an interrupted and resumed run ends with the
    same history and weights as an uninterrupted one. With ``persistent_workers`` the data order
    is still the same, but random augmentations done in worker processes are not (their random
    state cannot be saved); GPU kernels may add their own non-determinism.
    """

    path: Path | None
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    best: BestTracker
    train_loader: Iterable[Any]
    metadata: dict[str, Any]
    history: History = field(default_factory=History)
    data_seed: int | None = None

    def __post_init__(self) -> None:
        self.path = Path(self.path) if self.path is not None else None
        if self.data_seed is None:
            self.data_seed = initial_data_seed(self.train_loader)

    def start(self, epochs: int, *, resume: bool, retrain: bool, say: Callable[[str], None]) -> bool:
        """Decide how the run begins; return True when a finished run was loaded instead ("present" mode).

        No file, or ``retrain``: a new run (the file is replaced after its first epoch). A finished
        run of at least ``epochs`` epochs, or one stopped early: its final weights go into the model
        (left in eval mode) and its history into :attr:`history`; nothing is trained. An
        interrupted run: continued after its last epoch when ``resume``, else started over. A file
        that is unreadable, or was made for other data, model or optimiser, raises
        :class:`CheckpointError` and is left untouched.
        """
        if self.path is None or not self.path.exists():
            return False
        if retrain:
            say(f"Retraining: {self.path} will be replaced after the first epoch.")
            return False
        state = load_checkpoint(self.path)
        stored = state.get("metadata", {})
        check_metadata_compatible(self.path, stored, self.metadata)
        if state["epoch"] >= epochs or stored.get("stopped_early"):
            weights = final_weights(state)
            check_model_compatible(self.path, self.model, weights)
            self.model.load_state_dict(weights)
            self.model.eval()
            stopped_early = bool(stored.get("stopped_early"))
            self.history = History(state["history"], from_checkpoint=True, stopped_early=stopped_early)
            say(
                f"Loaded {self.path} ({state['epoch']} epochs trained) instead of training. "
                "Pass retrain=True or set COURSE_RETRAIN=1 to train again."
            )
            return True
        if resume:
            self.restore(state, say)
            say(f"Resuming from {self.path} after epoch {state['epoch']}/{epochs}.")
        else:
            say(f"resume=False: starting over; {self.path} will be replaced after the first epoch.")
        return False

    def seed_data_order(self, epoch: int) -> None:
        """Epoch ``epoch``'s shuffling, from the run's data seed: see :func:`seed_data_order`."""
        seed_data_order(self.train_loader, self.data_seed, epoch)

    def save(self, epoch: int, *, finished: bool, stopped_early: bool, restored_best: bool) -> None:
        """Write the state after ``epoch`` to :attr:`path` (atomically); nothing without a path.

        Under torchrun only process 0 writes; the others wait until the file is complete.
        """
        if self.path is None:
            return
        self.metadata.update(
            finished=finished, stopped_early=stopped_early, restored_best=restored_best,
            best_epoch=self.best.best_epoch, saved_at=timestamp(),
        )  # fmt: skip
        if distributed.is_main_process():
            save_checkpoint(self.path, self.state(epoch))
        distributed.barrier()

    def state(self, epoch: int) -> dict[str, Any]:
        """Everything needed to continue after ``epoch`` exactly as if never interrupted."""
        return {
            "epoch": epoch,
            "data_seed": self.data_seed,
            "model": self.model.state_dict(),
            "best_model": self.best.best_weights,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "tracker": self.best.state(),
            "rng": capture_rng_state(self.train_loader),
            "history": self.history.records(),
            "metadata": dict(self.metadata),
        }

    def restore(self, state: Mapping[str, Any], say: Callable[[str], None]) -> None:
        """Put back what :meth:`state` saved, refusing a checkpoint made for another model or optimiser."""
        stored = state.get("metadata", {})
        check_model_compatible(self.path, self.model, state["model"])
        in_use = {
            "optimizer": type(self.optimizer).__name__,
            "scheduler": type(self.scheduler).__name__ if self.scheduler else None,
        }
        for key, current in in_use.items():
            if stored.get(key) != current:
                problem = f"was trained with {key} {stored.get(key)}, but this run uses {current}."
                raise CheckpointError(self.path, problem)
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scheduler is not None:
                self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError, RuntimeError) as error:
            problem = f"optimizer or scheduler state does not fit this run ({error})."
            raise CheckpointError(self.path, problem) from error
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.best.load(state["tracker"], state.get("best_model"))
        for problem in restore_rng_state(state["rng"], self.train_loader):
            say(f"Note: {problem}.")
        self.history, self.data_seed = History(state["history"]), state["data_seed"]
