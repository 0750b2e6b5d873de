"""The classes of a data source as the Dataset tab shows them (issue 20, item 1): counts per class, the files no
rule labels (with the rule that left them out), warnings, and the rows of each class for the thumbnail filter.

Unlike `labels.read_labels`, which refuses a labelling problem so that training never starts on it, this never
raises for one: a folder mixing class folders with loose images lists the loose ones as unlabelled (and says
training will refuse them under the folders rule), a bad labels.csv is reported as the `problem`. The rules are
`labels.read_labels`' under "auto". Nothing here decodes an image.

Warnings (named thresholds, shared with `labels.LabelSummary`): a class with fewer than `FEW_IMAGES` (10) images
gives the network too few examples to learn it; largest / smallest class above `IMBALANCE` (10) means a guided
sample of a small class rests on far less data than one of a large class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ddpm_studio.data.labels import (
    FEW_IMAGES,
    IMBALANCE,
    LABELS_CSV,
    UNLABELLED,
    ClassLabels,
    LabelSummary,
    folder_labels_with_loose,
    read_labels,
)
from ddpm_studio.data.problems import DataSourceError, Problem

__all__ = ["FEW_IMAGES", "IMBALANCE", "RULE_TEXT", "ClassOverview", "class_overview"]

RULE_TEXT = {  # how each rule reads in a sentence
    "builtin": "the built-in set",
    "folders": "sub-folders (sub-folder name = class)",
    "csv": f"{LABELS_CSV} (file,label; it overrides sub-folders)",
    "none": "none",
}


@dataclass(frozen=True)
class ClassOverview:
    """What the Dataset tab shows of a source's classes."""

    rule: str  # "builtin" | "folders" | "csv" | "none" (no classes: unconditional)
    classes: tuple[str, ...]  # class names in class-index order (() for "none")
    labels: dict[str, int]  # candidate key -> class index, UNLABELLED (-1) where no rule labels it
    problem: str | None = None  # a labelling error training would stop on (one line), else None

    @property
    def labelled(self) -> bool:
        return bool(self.classes)

    def counts(self, keys: Iterable[str] | None = None) -> tuple[tuple[str, int], ...]:
        """(class, images) in class-index order, over `keys` (default: every candidate; give the valid ones)."""
        counted = Counter(self.labels.get(k, UNLABELLED) for k in (self.labels if keys is None else keys))
        return tuple((name, counted[i]) for i, name in enumerate(self.classes))

    def unlabelled(self, keys: Iterable[str] | None = None) -> tuple[Problem, ...]:
        """The files no rule labels, each with the reason naming the rule that left it out."""
        if not self.labelled:
            return ()  # a flat folder has no classes to miss; a bad labels.csv is the `problem`
        keys = list(self.labels if keys is None else keys)
        return tuple(Problem(k, self._unlabelled_reason()) for k in keys
                     if self.labels.get(k, UNLABELLED) == UNLABELLED)

    def _unlabelled_reason(self) -> str:
        if self.rule == "csv":
            return f"unlabelled: {LABELS_CSV} does not name it (it trains only the 'no class' entry)"
        return ("unlabelled: loose beside the class folders (rule: sub-folder name = class); training refuses it "
                f"until it is moved into one, a {LABELS_CSV} is added, or labels are none")

    def warnings(self, keys: Iterable[str] | None = None) -> list[str]:
        """One line per concern: the labelling problem, classes with few images, a strong imbalance."""
        keys = None if keys is None else list(keys)
        out = [self.problem] if self.problem else []
        if self.labelled:
            out += LabelSummary(self.rule, self.counts(keys), ()).warnings()
        return out

    def rows(self, keys: list[str], class_index: int) -> list[int]:
        """Positions in `keys` of the images of class `class_index` (UNLABELLED: the unlabelled ones)."""
        return [i for i, k in enumerate(keys) if self.labels.get(k, UNLABELLED) == class_index]

    def describe(self) -> str:
        """One line: where the classes come from, or that there are none."""
        if not self.labelled:
            if self.problem:
                return f"no classes: {self.problem}"
            return "no classes: flat folder (the model trains unconditional)"
        return f"{len(self.classes)} classes from {RULE_TEXT[self.rule]}"


def class_overview(source: object) -> ClassOverview:
    """The classes of an `ImageSource` under the "auto" rules, never raising for a labelling problem."""
    keys: list[str] = list(source.keys())  # type: ignore[attr-defined]
    try:
        labels = read_labels(source, "auto")
    except DataSourceError as exc:
        if str(exc).startswith("labels from folders"):  # class folders and loose images: list the loose ones
            lenient = folder_labels_with_loose(keys, source.spec)  # type: ignore[attr-defined]
            assert lenient is not None
            return _overview(lenient, str(exc))
        return ClassOverview("csv", (), {}, str(exc))  # a bad labels.csv: said once, no file listed
    if labels is None:
        return ClassOverview("none", (), {})
    return _overview(labels, None)


def _overview(labels: ClassLabels, problem: str | None) -> ClassOverview:
    return ClassOverview(labels.rule, labels.classes, dict(labels.labels), problem)
