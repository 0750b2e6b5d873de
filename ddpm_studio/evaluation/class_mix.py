"""The classes that scored samples of a class-conditional model ask for: the data's own class proportions.

A conditional model is used by asking for classes. Scoring its null class instead measures another, weaker
model: the unconditional branch, trained on only `class_dropout` (10 %) of the batches. On 200 glyphs after 10
minutes of training, the same weights scored recall 0.06-0.16 and precision 0.06-0.10 lower on null-class
samples than on class-asked ones (bench/README.md, "Scoring a conditional model"). So every face that scores a
conditional model's samples against real images of its data (the live quality monitor, `eval`, the EMA sweep,
bench/quality.py) asks for classes in the proportions its data has them, unguided (w = 1): the mixture
Σ_c p(c) p(x | c) is the distribution the real reference is drawn from. The protocol says so
(`Protocol.classes` = CLASSES_AS_DATA), and a score without it sampled no class (or, before this, a conditional
model's null class).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["CLASSES_AS_DATA", "class_counts", "class_mix"]

CLASSES_AS_DATA = "classes as in the data"  # Protocol.classes of class-asked samples (w = 1)


def class_mix(count: int, counts: Sequence[int]) -> tuple[int, ...]:
    """`count` class indices in the proportions of `counts` (images per class). Class c gets ⌊count·n_c/N⌋ and the
    remaining places go to the largest remainders (Hamilton's method; ties to the lower class); the classes are
    interleaved, class c's j-th place at (j + ½)/q_c of the sequence, so a prefix (a batch) is mixed too.
    ValueError when no class has an image."""
    total = sum(counts)
    if count < 0 or total <= 0 or any(n < 0 for n in counts):
        raise ValueError(f"class_mix needs a count >= 0 and image counts >= 0 with at least one image, got "
                         f"{count} and {list(counts)}")
    exact = [count * n / total for n in counts]
    quotas = [math.floor(q) for q in exact]
    by_remainder = sorted(range(len(counts)), key=lambda c: (-(exact[c] - quotas[c]), c))
    for c in by_remainder[:count - sum(quotas)]:
        quotas[c] += 1
    places = sorted(((j + 0.5) / q, c) for c, q in enumerate(quotas) for j in range(q))
    return tuple(c for _, c in places)


def class_counts(labels: torch.Tensor, num_classes: int) -> tuple[int, ...]:
    """Images per class of a labelled data set's labels (N,); unlabelled images (label < 0) are not counted."""
    labelled = labels[labels >= 0].long()
    return tuple(int(n) for n in torch.bincount(labelled, minlength=num_classes)[:num_classes])
