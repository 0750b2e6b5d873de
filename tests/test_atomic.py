"""ddpm_studio.atomic: whole-or-nothing writes and appends, and storage refusals as one-line StorageErrors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ddpm_studio.atomic import TMP_MARKER, atomic_append, atomic_write_text

_UNDER_A_SIZE_LIMIT = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from ddpm_studio.atomic import StorageError, atomic_append, atomic_write_text
    folder = Path(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    for name, write in (("append", lambda: atomic_append(folder / "history.jsonl", ["x" * 100 + "\\n"] * 100)),
                        ("replace", lambda: atomic_write_text(folder / "config.json", "y" * 10000))):
        try:
            write()
        except StorageError as exc:
            print(name, exc)
    """
)


def test_a_refused_write_is_one_line_and_leaves_the_old_file(tmp_path):
    atomic_append(tmp_path / "history.jsonl", ['{"step": 1}\n'])
    atomic_write_text(tmp_path / "config.json", "{}\n")
    result = subprocess.run([sys.executable, "-c", _UNDER_A_SIZE_LIMIT, str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["append", "replace"]
    assert all("file size limit was reached writing to " + str(tmp_path) in line for line in lines)
    assert (tmp_path / "history.jsonl").read_text() == '{"step": 1}\n'  # cut back: no torn line
    assert (tmp_path / "config.json").read_text() == "{}\n"
    assert not [p for p in tmp_path.iterdir() if TMP_MARKER in p.name]
