"""argparse types the commands share: integer lists and bounded integers, refused at parse time (exit 2) with
the flag's own words, so a negative --threads or --ncols never reaches the code that would misuse it."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ddpm_studio.errors_text import shorten
from ddpm_studio.training.config import MAX_SEED, MAX_THREADS


def int_list(text: str) -> tuple[int, ...]:
    """"1,2, 3" -> (1, 2, 3): the one parser of comma-separated integers (--nfe, --t, --index)."""
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {shorten(text)!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    return values


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in low..high."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {shorten(text)!r}") from None
        if value < low or (high is not None and value > high):
            within = f"{low}..{high:,}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"expected an integer {within}, got {value if len(text) < 40 else '…'}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its "invalid <name> value" messages
    return parse


positive_int = bounded_int(1)
threads = bounded_int(1, MAX_THREADS)  # --threads: torch.set_num_threads(-1) raised, 0 was silently ignored
seed = bounded_int(0, MAX_SEED)  # --seed: a negative or 2**70 seed failed deep inside torch
