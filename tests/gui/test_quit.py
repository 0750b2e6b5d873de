"""Quitting ends the process at once once the window is closed, the log flushed (issue 22 old #26)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_QUIT = """
import atexit, sys
from pathlib import Path
marker = Path(sys.argv[1])
atexit.register(lambda: marker.write_text("ran"))  # stands for torch's and PySide's teardown handlers
from ddpm_studio.gui.application import main
main(["--quit-after", "100"])
"""


def test_quitting_flushes_the_log_and_skips_the_slow_teardown(tmp_path: Path) -> None:
    """Old #26: after the window closed, the atexit handlers (torch's op-library teardown, PySide's destruction
    of every Qt object) kept the process alive ~0.3 s more; the log is flushed and the rest skipped."""
    environ = {**os.environ, "DDPM_STUDIO_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen",
               "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", _QUIT, str(tmp_path / "marker")], capture_output=True, text=True,
                          env=environ, timeout=300)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "home" / "logs" / "ddpm-studio.log").read_text(encoding="utf-8")
    assert log.rstrip().endswith("DDPM Studio exiting with code 0")  # flushed before the process ended
    assert not (tmp_path / "marker").exists()
