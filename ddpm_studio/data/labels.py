"""Class labels from the data itself, with no extra step (issue 20, item 1).

Rules, by `DataConfig.labels` ("auto" tries them in this order):

- "csv": a ``labels.csv`` beside the images (the folder's or the archive's top level), rows ``file,label``
  (an optional header ``file,label``); it overrides the folders. Files it does not name are *unlabelled*:
  they train the "no class" entry only and are listed (`LabelSummary.unlabelled`). Naming a missing file
  or naming a file twice is an error.
- "folders": images in sub-folders, sub-folder name = class (a zip the same; one wrapping folder that holds
  every class folder is looked through). Images both in class folders and loose at the top is an error.
- built-in sets carry their classes (shapes: circle / square / triangle; glyphs: their 36 characters).
- A flat folder (every image at the top), or one with a single sub-folder, has no labels under "auto": the
  model stays unconditional, exactly as before.

Class indices follow the class names sorted case-insensitively (built-in sets: their own order). Nothing
here decodes an image.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ddpm_studio.data.problems import DataSourceError

__all__ = ["LABEL_MODES", "LABELS_CSV", "ClassLabels", "LabelSummary", "folder_labels_with_loose", "read_labels",
           "source_labels", "summarize_labels"]

LABEL_MODES: tuple[str, ...] = ("auto", "folders", "csv", "none")
LABELS_CSV = "labels.csv"
UNLABELLED = -1  # the label of a file labels.csv does not name
FEW_IMAGES = 10  # a class with fewer images than this is worth a warning
IMBALANCE = 10.0  # largest class / smallest class above this is worth a warning


@dataclass(frozen=True)
class ClassLabels:
    """The classes of a source and the class index of each of its keys (UNLABELLED = -1 when none)."""

    classes: tuple[str, ...]  # class names, in class-index order
    labels: dict[str, int]  # source key -> class index (or UNLABELLED)
    rule: str  # "csv" | "folders" | "builtin": which rule labelled the data

    def reordered(self, classes: tuple[str, ...]) -> ClassLabels:
        """The same labels indexed by `classes` (a run's stored order); DataSourceError if the names differ."""
        if set(classes) != set(self.classes):
            raise DataSourceError(f"the data's classes ({', '.join(self.classes)}) differ from the run's "
                                  f"({', '.join(classes)})")
        index = {name: i for i, name in enumerate(classes)}
        labels = {k: (v if v == UNLABELLED else index[self.classes[v]]) for k, v in self.labels.items()}
        return ClassLabels(tuple(classes), labels, self.rule)


@dataclass(frozen=True)
class LabelSummary:
    """What the Dataset tab shows: classes with their image counts, the unlabelled files, and warnings."""

    rule: str
    counts: tuple[tuple[str, int], ...]  # (class name, images) in class-index order
    unlabelled: tuple[str, ...]  # keys no rule labelled (only labels.csv leaves some)

    def warnings(self) -> list[str]:
        """One line per concern: a class with very few images, a strong imbalance."""
        out = [f"class '{name}' has only {n} image{'s' if n != 1 else ''}" for name, n in self.counts
               if n < FEW_IMAGES]
        sizes = [n for _, n in self.counts]
        if sizes and min(sizes) > 0 and max(sizes) / min(sizes) > IMBALANCE:
            out.append(f"classes are imbalanced: {max(sizes)} vs {min(sizes)} images")
        return out


def summarize_labels(labels: ClassLabels, keys: list[str] | None = None) -> LabelSummary:
    """Counts per class over `keys` (default: every labelled key; pass the decoded keys to skip bad files)."""
    keys = list(labels.labels) if keys is None else keys
    counted = Counter(labels.labels.get(k, UNLABELLED) for k in keys)
    unlabelled = tuple(k for k in keys if labels.labels.get(k, UNLABELLED) == UNLABELLED)
    return LabelSummary(labels.rule, tuple((name, counted[i]) for i, name in enumerate(labels.classes)), unlabelled)


def source_labels(spec: str | Path, mode: str = "auto") -> tuple[ClassLabels, LabelSummary] | None:
    """Open a data source (folder, .zip, built-in set) and read its labels without decoding any image: the
    classes, per-class counts and unlabelled files a Dataset view shows before training (None: unlabelled).
    DataSourceError as `read_labels`, or when the source cannot be opened."""
    from ddpm_studio.data.sources import open_source  # sources -> synthetic; kept out of the config's imports

    labels = read_labels(open_source(spec), mode)
    return None if labels is None else (labels, summarize_labels(labels))


def read_labels(source: object, mode: str = "auto") -> ClassLabels | None:
    """The labels of an `ImageSource` under `mode` (see the module docstring); None = unconditional.

    DataSourceError (one line, naming the rule) for a bad labels.csv, a folder mixing class folders with loose
    images, or a mode that cannot apply (``csv`` without a labels.csv, ``folders`` without class folders)."""
    if mode not in LABEL_MODES:
        raise DataSourceError(f"labels must be one of {', '.join(LABEL_MODES)}, got {mode!r}")
    if mode == "none":
        return None
    keys: list[str] = list(source.keys())  # type: ignore[attr-defined]
    builtin = getattr(source, "classes", None)
    if builtin is not None:  # a built-in set
        if mode != "auto":
            raise DataSourceError(f"--labels {mode} does not apply to {source.spec}: built-in sets carry "  # type: ignore[attr-defined]
                                  "their classes (use auto)")
        return ClassLabels(tuple(builtin), {k: source.label(i) for i, k in enumerate(keys)}, "builtin")  # type: ignore[attr-defined]
    text = _read_csv_text(source)
    if mode == "csv" or (mode == "auto" and text is not None):
        if text is None:
            raise DataSourceError(f"labels from csv: no {LABELS_CSV} in '{source.spec}'")  # type: ignore[attr-defined]
        return _labels_from_csv(text, keys)
    return _labels_from_folders(keys, required=mode == "folders", spec=source.spec)  # type: ignore[attr-defined]


def _read_csv_text(source: object) -> str | None:
    """The text of labels.csv at the top of a folder or a zip archive, else None."""
    root = getattr(source, "root", None)
    if root is not None:
        path = Path(root) / LABELS_CSV
        return path.read_text(encoding="utf-8-sig") if path.is_file() else None
    archive_path = getattr(source, "path", None)
    if archive_path is None:
        return None
    with zipfile.ZipFile(archive_path) as archive:
        if LABELS_CSV not in archive.namelist():
            return None
        return archive.read(LABELS_CSV).decode("utf-8-sig")


def _labels_from_csv(text: str, keys: list[str]) -> ClassLabels:
    known = set(keys)
    rows: dict[str, tuple[str, int]] = {}  # file -> (label, line)
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or (line == 1 and [c.lower() for c in cells[:2]] == ["file", "label"]):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise DataSourceError(f"{LABELS_CSV} line {line}: expected 'file,label', got {','.join(row)!r}")
        name, label = cells[0].replace("\\", "/"), cells[1]
        if name in rows:
            raise DataSourceError(f"{LABELS_CSV} names '{name}' twice (lines {rows[name][1]} and {line})")
        if name not in known:
            raise DataSourceError(f"{LABELS_CSV} line {line} names '{name}', which is not an image of the data")
        rows[name] = (label, line)
    classes = tuple(sorted({label for label, _ in rows.values()}, key=lambda c: (c.casefold(), c)))
    if not classes:
        raise DataSourceError(f"{LABELS_CSV} labels no image")
    index = {c: i for i, c in enumerate(classes)}
    return ClassLabels(classes, {k: index[rows[k][0]] if k in rows else UNLABELLED for k in keys}, "csv")


def folder_labels_with_loose(keys: list[str], spec: str) -> ClassLabels | None:
    """Labels from class sub-folders where loose top-level images are UNLABELLED instead of an error: what the
    Dataset tab lists before training refuses them (data/class_overview.py)."""
    return _labels_from_folders(keys, required=False, spec=spec, loose_ok=True)


def _labels_from_folders(keys: list[str], *, required: bool, spec: str, loose_ok: bool = False) -> ClassLabels | None:
    """Labels from class sub-folders; loose top-level images are an error, or UNLABELLED with `loose_ok`."""
    parts = [k.split("/") for k in keys]
    while parts and all(len(p) > 2 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]  # one wrapping folder (a zip of "flowers/daisy/1.jpg"): look through it
    loose = [k for k, p in zip(keys, parts) if len(p) == 1]
    classes = tuple(sorted({p[0] for p in parts if len(p) > 1}, key=lambda c: (c.casefold(), c)))
    if len(classes) < 2 and not required:
        return None  # no class folders, or one ("data/images/*.png"): not a labelled set, unconditional as before
    if not classes:
        raise DataSourceError(f"labels from folders: '{spec}' has no class sub-folders (every image is at "
                              "the top level)")
    if loose and not loose_ok:
        raise DataSourceError(f"labels from folders (sub-folder name = class): '{spec}' also has {len(loose)} "
                              f"loose image{'s' if len(loose) > 1 else ''} at the top level (e.g. '{loose[0]}'); "
                              f"move {'them' if len(loose) > 1 else 'it'} into a class folder, add {LABELS_CSV}, "
                              "or train with labels none")
    index = {c: i for i, c in enumerate(classes)}
    return ClassLabels(classes, {k: index[p[0]] if len(p) > 1 else UNLABELLED for k, p in zip(keys, parts)},
                       "folders")
