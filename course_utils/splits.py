"""Deterministic, stratified splits and per-class subsets of a list of labels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def per_class_order(labels: Sequence[int], seed: int) -> dict[int, list[int]]:
    """Indices of each class in a shuffled order that depends only on ``labels`` and ``seed``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    order: dict[int, list[int]] = {}
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        order[label] = members[rng.permutation(len(members))].tolist()
    return order


def _split_counts(size: int, fractions: Sequence[float]) -> list[int]:
    """Split ``size`` items by ``fractions`` (largest remainder), giving every split with a positive
    fraction at least one item while the class has enough of them."""
    exact = [size * fraction for fraction in fractions]
    counts = [math.floor(value) for value in exact]
    by_remainder = sorted(range(len(fractions)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: size - sum(counts)]:
        counts[i] += 1
    wanted = [i for i, fraction in enumerate(fractions) if fraction > 0]
    if size >= len(wanted):
        for i in wanted:
            while counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] += 1
    return counts


def stratified_split(labels: Sequence[int], fractions: Sequence[float], seed: int) -> list[list[int]]:
    """Split indices ``0..len(labels)-1`` into ``len(fractions)`` disjoint lists covering them all.

    Each class is divided by ``fractions`` (which must sum to 1), so class proportions are kept and
    every class appears in every split when it has at least as many items as there are splits.
    The same ``labels`` and ``seed`` always give the same lists (each sorted ascending).
    """
    fractions = [float(fraction) for fraction in fractions]
    if not fractions or any(fraction < 0 for fraction in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {fractions}")
    splits: list[list[int]] = [[] for _ in fractions]
    for members in per_class_order(labels, seed).values():
        start = 0
        for split, count in zip(splits, _split_counts(len(members), fractions)):
            split.extend(members[start : start + count])
            start += count
    return [sorted(split) for split in splits]


def per_class_subset(labels: Sequence[int], n_per_class: int | None, seed: int) -> list[int]:
    """At most ``n_per_class`` indices of each class, picked at random under ``seed`` (sorted).

    ``None`` keeps everything.
    """
    if n_per_class is None:
        return list(range(len(labels)))
    if n_per_class < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_per_class}")
    return sorted(index for members in per_class_order(labels, seed).values() for index in members[:n_per_class])
