"""Issue 23 F18: an output under a file (/dev/null/...) says which part is not a folder, and a refused write
names the user's file, never our temporary one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ddpm_studio.atomic import atomic_write_text, temporary_path


@pytest.mark.parametrize("args", [
    ["sample", "demo", "--count", "1", "--steps", "1", "--out", "/dev/null/x", "--quiet"],
    ["export", "demo", "/dev/null/x.safetensors"],
    ["noise", "builtin:shapes?n=2", "--out", "/dev/null/n.png"],
    ["train", "--runs-dir", "/dev/null/runs", "--steps", "1", "--quiet"],
])
def test_an_output_below_a_file_names_the_file_in_the_way(cli_here, args):
    result = cli_here(*args)
    assert result.code == 1 and len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith("ddpm-studio: error: not a folder: /dev/null"), result.err
    assert "file exists" not in result.err


def test_a_refused_write_names_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / ("y" * 260 + ".json")  # too long a name: refused by the file system
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "x")
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []


def test_a_long_but_valid_name_gets_a_valid_temporary_name(tmp_path):
    target = tmp_path / ("z" * 240 + ".json")
    assert len(temporary_path(target).name.encode()) <= 255
    atomic_write_text(target, "x")
    assert target.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == [target.name]
    assert Path(target).exists()
