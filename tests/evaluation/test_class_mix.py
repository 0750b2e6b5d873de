"""The classes scored samples of a conditional model ask for: the data's proportions (evaluation/class_mix.py),
and the protocol that says so."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from ddpm_studio.evaluation import Protocol
from ddpm_studio.evaluation.class_mix import CLASSES_AS_DATA, class_counts, class_mix


def test_proportions_follow_the_data_and_sum_to_the_count():
    mix = class_mix(128, [100] * 36)  # 36 balanced classes: 128 = 36 * 3 + 20
    counts = Counter(mix)
    assert len(mix) == 128 and set(counts.values()) == {3, 4}
    assert [c for c in range(36) if counts[c] == 4] == list(range(20))  # equal remainders go to the lower classes
    assert Counter(class_mix(100, [300, 100])) == {0: 75, 1: 25}
    assert Counter(class_mix(10, [1, 1, 1])) == {0: 4, 1: 3, 2: 3}  # Hamilton: the largest remainders first
    assert 1 not in class_mix(8, [5, 0, 3])  # a class without images is never asked for
    assert class_mix(0, [1, 2]) == ()


def test_classes_are_interleaved_so_a_batch_is_mixed():
    assert class_mix(6, [1, 1, 1]) == (0, 1, 2, 0, 1, 2)
    first_batch = class_mix(64, [3, 1])[:16]
    assert Counter(first_batch) == {0: 12, 1: 4}


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="at least one image"):
        class_mix(4, [0, 0])
    with pytest.raises(ValueError):
        class_mix(4, [2, -1])


def test_class_counts_skip_unlabelled_images():
    labels = torch.tensor([0, 2, 2, -1, 2, 0])
    assert class_counts(labels, 3) == (2, 0, 3)


def test_protocol_says_what_the_samples_asked_for():
    plain = Protocol(64, "dpmpp_2m", 10, "builtin:shapes?n=256&size=64&seed=1000", 256)
    asked = Protocol(64, "dpmpp_2m", 10, "builtin:shapes?n=256&size=64&seed=1000", 256, classes=CLASSES_AS_DATA)
    assert "classes as in the data" in asked.caption() and "classes" not in plain.caption()
    assert not plain.comparable(asked)
    assert Protocol.from_dict(asked.to_dict()) == asked
    old = {k: v for k, v in plain.to_dict().items() if k != "classes"}  # a score stored before the field
    assert Protocol.from_dict(old).classes == ""
