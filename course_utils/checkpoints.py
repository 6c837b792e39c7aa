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
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import os
import random
from collections import Counter, OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .atomic import atomic_path

FORMAT = "course_utils.checkpoint"
VERSION = 1
RETRAIN_ADVICE = (
    "Pass retrain=True (or set COURSE_RETRAIN=1) to train from scratch and replace it, "
    "or delete the file."
)
COMPARED_METADATA = ("classes", "input_size", "mean", "std")
"""Metadata that must agree between a checkpoint and the run that loads it."""
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
