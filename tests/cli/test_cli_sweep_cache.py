"""Issue 23 F6, F14 from the command line: a malformed sweep cache is a miss (never an internal error), and a
cache folder that cannot be written still prints the table, with one warning."""

from __future__ import annotations

import json

SWEEP = ["--data", "builtin:shapes?n=48", "--methods", "ddim", "--nfe", "2", "--count", "8", "--reference-count",
         "12", "--batch-size", "8", "--quiet", "--threads", "1"]


def test_a_cache_of_the_wrong_shape_is_recomputed(cli_here, home, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors")
    first = cli_here("sweep", str(checkpoint), *SWEEP)
    assert first.code == 0, first.err
    (cache,) = (home / "cache" / "sweeps").glob("*.json")
    cache.write_text("[]")
    again = cli_here("sweep", str(checkpoint), *SWEEP)
    assert again.code == 0, again.err
    assert "ddim" in again.out and str(cache) in again.err
    assert json.loads(cache.read_text())["entries"]
    cache.write_text(json.dumps({**json.loads(cache.read_text()), "entries": []}))
    no_cache = cli_here("sweep", str(checkpoint), *SWEEP, "--no-cache")
    assert no_cache.code == 0, no_cache.err


def test_an_unwritable_cache_folder_prints_the_results_and_warns(cli_here, home, tmp_path, save_random_checkpoint):
    checkpoint = save_random_checkpoint(tmp_path / "m.safetensors")
    (home / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache" / "sweeps").write_text("a file where the cache folder goes")
    result = cli_here("sweep", str(checkpoint), *SWEEP)
    assert result.code == 0, result.err
    assert "ddim" in result.out and "real vs real" in result.out
    assert result.err.count("not cached") == 1
