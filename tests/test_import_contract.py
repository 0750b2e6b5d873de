"""Layering contract: engine, data and training import (every module) with Qt blocked.

A ``sys.meta_path`` finder in a fresh interpreter refuses PySide6 / shiboken6 / PyQt / pyqtgraph, then
every module of the layer is imported (napari's ``napari.components`` vs ``napari._qt`` rule).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "ddpm_studio"

_SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, sys
    from pathlib import Path

    BLOCKED = {"PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2", "pyqtgraph"}

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"Qt import blocked by the layering contract: {name}")
            return None

    sys.meta_path.insert(0, BlockQt())
    layer, root = sys.argv[1], Path(sys.argv[2])
    names = []
    for file in sorted((root / layer).rglob("*.py")):
        parts = file.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    for name in names:
        importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print(len(names))
    """
)


def _import_layer_without_qt(layer: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, layer, str(PACKAGE_ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_engine_imports_without_qt() -> None:
    result = _import_layer_without_qt("engine")
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.strip()) >= 7  # every engine module was imported


@pytest.mark.parametrize("layer", ["data", "training"])
def test_lower_layers_import_without_qt(layer: str) -> None:
    if not any((PACKAGE_ROOT / layer).rglob("*.py")):
        pytest.skip(f"ddpm_studio/{layer} has no modules yet")
    result = _import_layer_without_qt(layer)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_blocker_really_blocks() -> None:
    """Guard against a vacuous contract: importing the GUI layer's toolkit must fail under the blocker."""
    script = _SCRIPT.split("layer, root")[0] + "import PySide6\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "blocked by the layering contract" in result.stderr
