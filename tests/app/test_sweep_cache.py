"""Issue 23 F6, F14, F15: the sweep cache only ever saves work. A malformed file or entry is a miss (recomputed,
rewritten, mentioned with its path); a read-only cache folder leaves the results uncached with a warning; two
sweeps of one checkpoint keep each other's entries."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from ddpm_studio.app.sweep import CACHE_FORMAT, SweepCache, SweepSettings, run_sweep
from ddpm_studio.app.sweep_cache_io import merge_cache_entries

DATA = "builtin:shapes?n=48"
SMALL = dict(count=8, reference_count=12, batch_size=8)
SETTINGS = SweepSettings(methods=("ddim",), budgets=(2,), **SMALL)


@pytest.fixture
def checkpoint(tmp_path, save_random_checkpoint):
    return save_random_checkpoint(tmp_path / "model.safetensors", DATA)


def _cache_file(folder: Path) -> Path:
    files = [p for p in folder.glob("*.json")]
    assert len(files) == 1
    return files[0]


def _rewrite_entries(path: Path, change) -> None:
    data = json.loads(path.read_text())
    data["entries"] = {k: change(v) for k, v in data["entries"].items()}
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("damage", ["[]", "entries list", "cell as list", "metrics empty", "strings", "not json"])
def test_a_malformed_cache_is_a_miss_rewritten_and_named(checkpoint, tmp_path, caplog, damage):
    first = run_sweep(checkpoint, DATA, SETTINGS, cache_dir=tmp_path / "c")
    path = _cache_file(tmp_path / "c")
    if damage == "[]":
        path.write_text("[]")
    elif damage == "not json":
        path.write_text("{")
    elif damage == "entries list":
        data = json.loads(path.read_text())
        data["entries"] = list(data["entries"].values())
        path.write_text(json.dumps(data))
    elif damage == "cell as list":
        _rewrite_entries(path, lambda v: list(v) if "metrics" in v else v)
    elif damage == "metrics empty":
        _rewrite_entries(path, lambda v: {**v, "metrics": {}} if "metrics" in v else {})
    else:
        def strings(v):
            if "metrics" in v:
                return {**v, "seconds": "1.0", "metrics": {k: str(x) for k, x in v["metrics"].items()}}
            return {k: str(x) for k, x in v.items()}

        _rewrite_entries(path, strings)
    with caplog.at_level(logging.WARNING):
        again = run_sweep(checkpoint, DATA, SETTINGS, cache_dir=tmp_path / "c")
        no_cache = run_sweep(checkpoint, DATA, SETTINGS, cache_dir=tmp_path / "c", use_cache=False)
    assert [c.cached for c in again.cells] == [False] and not no_cache.cells[0].cached
    assert again.cells[0].metrics == first.cells[0].metrics and again.floor == first.floor
    assert any(str(path) in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    data = json.loads(path.read_text())  # rewritten whole
    assert data["format"] == CACHE_FORMAT and isinstance(data["entries"], dict)
    third = run_sweep(checkpoint, DATA, SETTINGS, cache_dir=tmp_path / "c")
    assert [c.cached for c in third.cells] == [True] and third.floor == first.floor


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_warns_and_keeps_the_results(checkpoint, tmp_path, caplog):
    folder = tmp_path / "c"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING):
            result = run_sweep(checkpoint, DATA, SETTINGS, cache_dir=folder)
    finally:
        folder.chmod(0o700)
    assert len(result.cells) == 1 and result.floor is not None
    warnings = [r.getMessage() for r in caplog.records if "not cached" in r.getMessage()]
    assert len(warnings) == 1


def test_a_failing_cache_write_warns_once_and_keeps_the_results(checkpoint, tmp_path, caplog, monkeypatch):
    from ddpm_studio.app import sweep_cache_io

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "c"))

    monkeypatch.setattr(sweep_cache_io, "atomic_write_text", refuse)
    with caplog.at_level(logging.WARNING):
        result = run_sweep(checkpoint, DATA, SweepSettings(methods=("ddim", "euler"), budgets=(2,), **SMALL),
                           cache_dir=tmp_path / "c")
    assert len(result.cells) == 2 and result.floor is not None
    warnings = [r.getMessage() for r in caplog.records if "not cached" in r.getMessage()]
    assert len(warnings) == 1 and "cannot write to" in warnings[0]


def test_two_sweeps_of_one_checkpoint_keep_each_others_entries(checkpoint, tmp_path):
    first, second = SweepCache(tmp_path, checkpoint), SweepCache(tmp_path, checkpoint)  # both opened empty
    cell = {"metrics": {"swd": 1.0, "precision": 0.5, "recall": 0.5}, "seconds": 1.0}
    first.put("a", cell)
    second.put("b", cell)  # used to rewrite the file from its own entries alone, losing "a"
    reread = SweepCache(tmp_path, checkpoint)
    assert reread.get_cell("a") == cell and reread.get_cell("b") == cell


def test_merge_keeps_entries_written_meanwhile(tmp_path):
    path = tmp_path / "x.json"
    merge_cache_entries(path, CACHE_FORMAT, "sha", Path("m"), {"a": 1}, {})
    merged = merge_cache_entries(path, CACHE_FORMAT, "sha", Path("m"), {"b": 2}, {})
    assert merged == {"a": 1, "b": 2} and json.loads(path.read_text())["entries"] == merged
