"""The PySide6 + pyqtgraph desktop application: window, views and the Qt workers.

Only this package imports Qt. `ddpm_studio.gui.app.main` is the entry point; it imports torch
before PySide6 (torch >= 2.9 on Windows fails to load its DLLs otherwise).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from importlib import metadata

# PySide6 6.12.0 drops one reference to None on every call of a method that returns None (and to
# True/False on some paths). Before Python 3.12 (PEP 683: immortal singletons) the count reaches zero
# after some 10^5 calls, a few seconds of slider dragging, and the interpreter aborts with
# "none_dealloc: deallocating None" / "bool_dealloc". PySide6 6.11.x is not affected.
_NONE_REFCOUNT_BROKEN = ("6.12.0",)


def guard_none_refcount() -> bool:
    """On an affected PySide6 + Python < 3.12, make the singletons' counts unreachable (+2**40 references).

    This is what Python 3.12 does (None is immortal); returns True when applied. Idempotent enough:
    applying it twice only adds more references.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    version = ""
    for dist in ("PySide6-Essentials", "PySide6"):
        try:
            version = metadata.version(dist)
            break
        except metadata.PackageNotFoundError:
            continue
    if version not in _NONE_REFCOUNT_BROKEN:
        return False
    for singleton in (None, True, False, Ellipsis, NotImplemented):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40  # ob_refcnt is the first field
    logging.getLogger(__name__).info("PySide6 %s on Python %s: singletons made immortal (upstream refcount bug)",
                                     version, sys.version.split()[0])
    return True


NONE_REFCOUNT_GUARDED = guard_none_refcount()
