"""What a face says when starting or running a job fails: a kind and one plain line, the same for the GUI's
training panel and the CLI's exit message.

Expected conditions (a locked run, a damaged checkpoint or run folder, unusable data, a full disk, a bad
configuration, out of memory) are plain sentences without a class name; only a bug keeps its exception type
("KeyError: 'x'") so the log file's traceback can be found. The kinds are the Trainer's FailedEvent kinds
(nan, locked, storage, data, oom, error) plus checkpoint, run and config for failures before training starts.
"""

from __future__ import annotations

from ddpm_studio.atomic import StorageError
from ddpm_studio.data import DataSourceError, ImageDecodeError
from ddpm_studio.errors_text import one_line
from ddpm_studio.training.batches import DataError
from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.devices import is_out_of_memory
from ddpm_studio.training.run_lock import RunLocked
from ddpm_studio.training.runs import RunError

OUT_OF_MEMORY = "out of memory; try a smaller batch size, image size or model width"

_KINDS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (RunLocked, "locked"),
    (CheckpointError, "checkpoint"),
    (RunError, "run"),
    (StorageError, "storage"),
    ((DataSourceError, ImageDecodeError, DataError), "data"),
    (ValueError, "config"),  # every config's validate() and typed_config's errors name the file and the field
)


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(kind, one line) for an exception that ended a job before or outside the Trainer's own reporting."""
    if is_out_of_memory(exc):
        return "oom", OUT_OF_MEMORY
    for types, kind in _KINDS:
        if isinstance(exc, types):
            return kind, one_line(exc)
    if isinstance(exc, OSError):
        return "storage", one_line(exc)
    return "error", one_line(exc, with_type=True)
