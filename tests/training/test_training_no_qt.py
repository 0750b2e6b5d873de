"""The training layer and the CLI never import Qt (docs/architecture.md, "Layers": imports only point down)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
class _BlockQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6"):
            raise ImportError(f"Qt import blocked: {name}")
        return None
sys.meta_path.insert(0, _BlockQt())
import ddpm_studio.training, ddpm_studio.training.trainer, ddpm_studio.training.distributed, ddpm_studio.cli
assert not [m for m in sys.modules if m.startswith(("PySide6", "pyqtgraph"))]
print("ok")
"""


def test_training_and_cli_import_without_qt():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
