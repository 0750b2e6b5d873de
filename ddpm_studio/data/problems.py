"""What can go wrong when reading a data source: skipped files (Problem) and fatal errors.

A single bad file never stops loading: it becomes a `Problem(name, reason)` that the dataset counts and
the GUI/CLI lists. Only a source that yields no usable image at all (missing path, empty or all-bad
folder, damaged archive) is fatal, as a `DataSourceError` with a one-line message naming the source.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Problem", "DataSourceError", "DataLoadCancelled", "summarize_problems", "count_reasons"]


@dataclass(frozen=True)
class Problem:
    """A skipped file: its name relative to the source (e.g. ``"cats/01.jpg"``) and why it was skipped."""

    name: str  # relative path inside the folder / archive, or "#index" for a built-in set
    reason: str  # one line, e.g. "truncated image file", "not an image (unrecognised format)"

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


class DataSourceError(Exception):
    """The source as a whole is unusable: missing path, not a folder/zip, damaged zip, empty or all-bad."""


class DataLoadCancelled(Exception):
    """Loading was cancelled through the ``cancel`` callback (not an error: the user asked for it)."""


def summarize_problems(problems: Iterable[Problem], limit: int = 3) -> str:
    """One line describing skipped files, e.g. ``"3 skipped: a.png: truncated image file; ... (+1 more)"``."""
    problems = list(problems)
    if not problems:
        return "no files skipped"
    shown = "; ".join(str(p) for p in problems[:limit])
    more = len(problems) - limit
    tail = f" (+{more} more)" if more > 0 else ""
    return f"{len(problems)} skipped: {shown}{tail}"


def count_reasons(problems: Iterable[Problem]) -> dict[str, int]:
    """How many files were skipped for each reason (reasons are short and stable, so they group well)."""
    return dict(Counter(p.reason for p in problems))
