"""stratified_split and per_class_subset: deterministic, stratified, disjoint, complete."""

from __future__ import annotations

from collections import Counter

import pytest

from course_utils.splits import per_class_order, per_class_subset, stratified_split

LABELS = [0] * 100 + [1] * 40 + [2] * 7 + [3] * 2  # unbalanced, with two tiny classes


def test_split_is_disjoint_and_complete() -> None:
    parts = stratified_split(LABELS, [0.7, 0.15, 0.15], seed=1)
    flat = [index for part in parts for index in part]
    assert len(flat) == len(set(flat)) == len(LABELS)
    assert sorted(flat) == list(range(len(LABELS)))


def test_split_is_stratified() -> None:
    train, val, test = stratified_split(LABELS, [0.7, 0.15, 0.15], seed=1)
    for part, fraction in ((train, 0.7), (val, 0.15), (test, 0.15)):
        counts = Counter(LABELS[i] for i in part)
        assert abs(counts[0] - 100 * fraction) <= 1 and abs(counts[1] - 40 * fraction) <= 1
        assert counts[2] >= 1  # 7 items: one at least in every split
    assert Counter(LABELS[i] for i in train)[3] + Counter(LABELS[i] for i in val + test)[3] == 2


def test_every_class_with_enough_items_is_in_every_split() -> None:
    labels = [0] * 3 + [1] * 50
    for seed in range(20):
        for part in stratified_split(labels, [0.8, 0.1, 0.1], seed):
            assert {labels[i] for i in part} == {0, 1}


def test_same_seed_same_split_other_seed_other_split() -> None:
    assert stratified_split(LABELS, [0.5, 0.25, 0.25], seed=7) == stratified_split(LABELS, [0.5, 0.25, 0.25], seed=7)
    assert stratified_split(LABELS, [0.5, 0.25, 0.25], seed=7) != stratified_split(LABELS, [0.5, 0.25, 0.25], seed=8)


def test_two_way_split_with_zero_fraction() -> None:
    keep, empty = stratified_split(LABELS, [1.0, 0.0], seed=0)
    assert keep == list(range(len(LABELS))) and empty == []


@pytest.mark.parametrize("fractions", [[0.5, 0.4], [0.7, 0.5, -0.2], []])
def test_bad_fractions_are_rejected(fractions: list[float]) -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(LABELS, fractions, seed=0)


def test_per_class_subset() -> None:
    subset = per_class_subset(LABELS, 5, seed=3)
    assert Counter(LABELS[i] for i in subset) == {0: 5, 1: 5, 2: 5, 3: 2}
    assert subset == per_class_subset(LABELS, 5, seed=3) != per_class_subset(LABELS, 5, seed=4)
    assert set(per_class_subset(LABELS, 3, seed=3)) <= set(subset)  # growing n only adds items
    assert per_class_subset(LABELS, None, seed=3) == list(range(len(LABELS)))
    with pytest.raises(ValueError):
        per_class_subset(LABELS, -1, seed=3)


def test_per_class_order_is_a_shuffled_permutation_of_each_class() -> None:
    order = per_class_order(LABELS, seed=0)
    assert sorted(order[0]) == list(range(100)) and order[0] != list(range(100))
    assert sorted(order[3]) == [147, 148]
