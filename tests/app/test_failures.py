"""Issue 23 F20: expected conditions (a locked run, a damaged checkpoint, a damaged run folder, bad data, a full
disk, out of memory) are plain one-line messages of their own kind for both faces; only bugs keep a class name."""

from __future__ import annotations

import pytest

from ddpm_studio.app.failures import OUT_OF_MEMORY, describe_failure
from ddpm_studio.atomic import StorageError
from ddpm_studio.data import DataSourceError
from ddpm_studio.training.checkpoint import CheckpointError
from ddpm_studio.training.run_lock import RunLocked
from ddpm_studio.training.runs import RunError


@pytest.mark.parametrize("exc, kind", [
    (RunLocked("run r is being trained by process 1 on h; wait for it to finish or stop it first"), "locked"),
    (CheckpointError("step_00000004.safetensors is damaged (x)"), "checkpoint"),
    (RunError("/r/config.json cannot be used: not valid JSON"), "run"),
    (StorageError("no space left on /r (0 MB free)"), "storage"),
    (DataSourceError("no such folder: /d"), "data"),
    (ValueError("config.json: training: seed must be an integer"), "config"),
])
def test_expected_conditions_are_plain_lines(exc, kind):
    assert describe_failure(exc) == (kind, str(exc))


def test_out_of_memory_and_bugs():
    assert describe_failure(MemoryError()) == ("oom", OUT_OF_MEMORY)
    assert describe_failure(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))[0] == "oom"
    assert describe_failure(KeyError("x")) == ("error", "KeyError: 'x'")
    assert describe_failure(RuntimeError("   ")) == ("error", "RuntimeError")
