"""Run profiles: ``COURSE_PROFILE=quick`` for CI and CPUs, unset (or ``full``) for the whole course."""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILE_ENV = "COURSE_PROFILE"


@dataclass(frozen=True)
class Profile:
    """How much work a notebook does: dataset subset sizes, epochs and batch sizes."""

    name: str
    train_per_class: int | None
    """Images per class kept for training (``None`` keeps all)."""
    eval_per_class: int | None
    """Images per class kept for validation and test splits (``None`` keeps all)."""
    epochs: int
    batch_size: int
    num_workers: int
    allow_synthetic: bool
    """Whether a generated stand-in dataset may replace real data that cannot be had."""

    @property
    def is_quick(self) -> bool:
        return self.name == "quick"


QUICK = Profile(
    name="quick",
    train_per_class=64,
    eval_per_class=24,
    epochs=2,
    batch_size=32,
    num_workers=0,
    allow_synthetic=True,
)
FULL = Profile(
    name="full",
    train_per_class=None,
    eval_per_class=None,
    epochs=10,
    batch_size=64,
    num_workers=2,
    allow_synthetic=False,
)
PROFILES = {p.name: p for p in (QUICK, FULL)}


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile, or the one ``COURSE_PROFILE`` selects (unset means ``full``)."""
    if name is None:
        name = os.environ.get(PROFILE_ENV, "").strip().lower() or "full"
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown course profile {name!r}: set {PROFILE_ENV} to one of {sorted(PROFILES)} "
            "(or leave it unset for the full course)."
        ) from None
