"""Exceptions and values as the one short line a person reads: the bottom layer every face and layer shares.

`one_line(exc)` is the first non-empty line of an exception's text (its type's name when the text is blank,
so no handler can fail on an empty message), shortened; `shorten(value)` cuts a long value (a 100 MB path
in a crafted config.json) to its head and tail for a message. No Qt, no torch.
"""

from __future__ import annotations

from typing import Any

MESSAGE_LIMIT = 300  # characters of one message line at most
VALUE_LIMIT = 120  # characters of a value quoted inside a message


def shorten(text: str, limit: int = VALUE_LIMIT) -> str:
    """`text` itself, or its head and tail around "… (N characters) …" when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    keep = max(limit - 30, 10)
    head, tail = text[: keep * 2 // 3], text[-(keep // 3):]
    return f"{head}… ({len(text):,} characters) …{tail}"


def short_repr(value: Any, limit: int = VALUE_LIMIT) -> str:
    """repr(value), shortened (a huge string or list in a message stays one readable line)."""
    if isinstance(value, (str, bytes)) and len(value) > 4 * limit:
        value = value[: 4 * limit]  # never build the repr of 100 MB
    elif isinstance(value, (list, tuple, dict)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value):,} items>"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # a huge int's repr (ValueError) or a deep structure
        text = f"<{type(value).__name__}>"
    return shorten(text, limit)


def _whole_sentences(text: str, limit: int) -> str:
    """`text` cut after its last whole sentence within `limit` (never mid-sentence), else `shorten`ed."""
    if len(text) <= limit:
        return text
    end = text.rfind(". ", 0, limit)
    return text[:end + 1] if end >= limit // 3 else shorten(text, limit)


def one_line(exc: BaseException, limit: int = MESSAGE_LIMIT, *, with_type: bool = False) -> str:
    """The first non-empty line of `exc`'s text (or its type's name), at most `limit` characters;
    `with_type` prefixes the type's name ("KeyError: 'x'"), for errors that are bugs."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the handler that reports it
        text = ""
    if len(text) > 100 * limit:
        text = text[: 100 * limit]  # a 100 MB message: its head is what is shown anyway
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    name = type(exc).__name__
    if not lines:
        return name
    line = _whole_sentences(lines[0], limit)
    return f"{name}: {line}" if with_type else line
