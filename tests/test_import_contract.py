"""Layering contract (docs/architecture.md, "Layers"), checked two ways.

1. Over the import graph: import-linter's contracts in pyproject.toml ([tool.importlinter]; every import
   statement, those inside functions too): faces (gui | cli, independent) > app > training > evaluation >
   engine | data (independent) > base; PySide6, shiboken6, pyqtgraph and every other Qt binding only in gui/.
   `lint-imports` must keep them on the tree, and break them on copies of the tree into which a violation is
   put -- including the two the hand-written checker it replaces let through (`from ddpm_studio import gui`
   recorded as the package, and `import qtpy`).
2. At run time: a ``sys.meta_path`` finder in a fresh interpreter refuses every Qt binding, then every module
   below gui/ is imported (napari's ``napari.components`` vs ``napari._qt`` rule).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_ROOT = REPO / "ddpm_studio"
BELOW_GUI = ("engine", "data", "evaluation", "training", "app", "cli")
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")


def _lint(root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with pyproject's contracts, on the ddpm_studio package found under `root`."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """A copy of the package and of pyproject.toml to put violations into (the tree itself is never touched)."""
    root = tmp_path_factory.mktemp("contract")
    shutil.copytree(PACKAGE_ROOT, root / "src" / "ddpm_studio", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (the test extra has it)")
def test_the_tree_keeps_every_contract() -> None:
    result = _lint(REPO, REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


VIOLATIONS = [
    ("training/trainer.py", "from ddpm_studio import gui", "Imports point down"),  # the package, not a module
    ("training/runs.py", "import ddpm_studio.gui.main_window", "Imports point down"),
    ("engine/forward.py", "import qtpy", "only in gui/"),  # a Qt binding the old list did not name
    ("data/decode.py", "from PySide6.QtGui import QImage", "only in gui/"),
    ("cli/runs.py", "from ddpm_studio.gui import state", "Imports point down"),  # the faces are independent
    ("engine/grids.py", "from ddpm_studio.data import config", "Imports point down"),  # engine | data
    ("app/sampling.py", "def later():\n    from ddpm_studio.cli import main", "Imports point down"),  # in a function
    ("evaluation/swd.py", "from ddpm_studio.training import ema", "Imports point down"),
]


@pytest.mark.skipif(LINT_IMPORTS is None, reason="import-linter is not installed (the test extra has it)")
@pytest.mark.parametrize(("module", "line", "contract"), VIOLATIONS)
def test_each_violation_breaks_a_contract(tree_copy: Path, module: str, line: str, contract: str) -> None:
    target = tree_copy / "src" / "ddpm_studio" / module
    original = target.read_text(encoding="utf-8")
    try:
        target.write_text(original + "\n\n" + line + "\n", encoding="utf-8")
        result = _lint(tree_copy / "src", tree_copy)
    finally:
        target.write_text(original, encoding="utf-8")
    assert result.returncode != 0, result.stdout[-2000:]
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), result.stdout[-3000:]


_BLOCK_QT = textwrap.dedent(
    """
    import importlib, importlib.abc, sys
    from pathlib import Path

    BLOCKED = {"PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2", "pyqtgraph", "qtpy"}

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"Qt import blocked by the layering contract: {name}")
            return None

    sys.meta_path.insert(0, BlockQt())
    """
)

_IMPORT_ALL = textwrap.dedent(
    """
    root = Path(sys.argv[1])
    names = []
    for layer in sys.argv[2:]:
        for file in sorted((root / layer).rglob("*.py")):
            parts = file.relative_to(root.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    for name in names:
        importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print(len(names))
    """
)


def test_every_module_below_gui_imports_with_qt_blocked() -> None:
    """The one run-time check: every module of every layer below gui/ imports in a Qt-less interpreter."""
    result = subprocess.run([sys.executable, "-c", _BLOCK_QT + _IMPORT_ALL, str(PACKAGE_ROOT), *BELOW_GUI],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = sum(1 for layer in BELOW_GUI for _ in (PACKAGE_ROOT / layer).rglob("*.py"))
    assert int(result.stdout.strip()) == expected


def test_the_blocker_really_blocks() -> None:
    """Guard against a vacuous run-time check: the GUI's toolkit must fail to import under the blocker."""
    result = subprocess.run([sys.executable, "-c", _BLOCK_QT + "import PySide6\n"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0 and "blocked by the layering contract" in result.stderr
