"""Layering contract (docs/architecture.md, "Layers"), checked two ways.

1. At run time: a ``sys.meta_path`` finder in a fresh interpreter refuses PySide6 / shiboken6 / PyQt /
   pyqtgraph, then every module of engine, data, training and app is imported (napari's
   ``napari.components`` vs ``napari._qt`` rule).
2. Over the import graph: every import statement of every module under ddpm_studio/ (also those inside
   functions) is read with `ast`:

    entry points (__main__, selftest)
    gui, cli            the two faces: never import each other
    app                 the use cases both faces share
    training, evaluation
    data, engine        never import each other
    base (the package, paths, atomic, typed_config)

   A module imports only from its own layer or a layer below; PySide6 / shiboken6 / pyqtgraph only in gui/
   (and the self-test, which checks the bundled GUI stack).
"""

from __future__ import annotations

import ast
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


@pytest.mark.parametrize("layer", ["data", "training", "app"])
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


# -- the import graph ---------------------------------------------------------------------------------

PACKAGE = PACKAGE_ROOT
QT = {"PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6", "PySide2"}
# evaluation (metrics over tensors) sits between engine/data and training: the Trainer scores its samples live
RANK = {"base": 0, "engine": 1, "data": 1, "evaluation": 1.5, "training": 2, "app": 3, "cli": 4, "gui": 4,
        "entry": 5}
BASE = {"paths", "atomic", "typed_config", "platform_libs"}
ENTRY = {"__main__", "selftest"}
QT_ALLOWED = {"gui", "entry"}


def layer_of(module: str) -> str:
    """The layer of a dotted module name inside ddpm_studio."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    top = parts[1]
    if top in BASE:
        return "base"
    if top in ENTRY:
        return "entry"
    if top not in RANK:
        raise AssertionError(f"{module}: a package that has no layer yet; add it to RANK and docs/architecture.md")
    return top


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file (or in `text`), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text, filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def violations(sources: dict[Path, str] | None = None) -> list[str]:
    """Every import that breaks the layering, in the package's files (or in `sources`: path -> text)."""
    problems = []
    for path in sources if sources is not None else _modules():
        layer = layer_of(module_name(path))
        for line, target in imports_of(path, sources[path] if sources is not None else None):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if target.split(".")[0] in QT and layer not in QT_ALLOWED:
                problems.append(f"{where}: Qt outside gui/")
            if not target.startswith("ddpm_studio"):
                continue
            other = layer_of(target)
            if other == layer:
                continue
            if RANK[other] >= RANK[layer]:
                kind = "a sibling layer" if RANK[other] == RANK[layer] else "upwards"
                problems.append(f"{where}: {layer} -> {other} is {kind}")
    return problems


def test_every_import_points_down_and_qt_stays_in_gui():
    assert violations() == []


def test_the_graph_is_really_read():
    """Guard against a vacuous test: the faces do import the use-case layer, and the GUI imports Qt."""
    edges = {(layer_of(module_name(p)), t) for p in _modules() for _, t in imports_of(p)}
    assert ("cli", "ddpm_studio.app.sampling") in edges
    assert any(src == "gui" and dst.startswith("ddpm_studio.app") for src, dst in edges)
    assert any(src == "gui" and dst.startswith("PySide6") for src, dst in edges)


@pytest.mark.parametrize("source, message", [
    ("from ddpm_studio.gui.state import AppState\n", "training -> gui is upwards"),
    ("from ddpm_studio.app import exports\n", "training -> app is upwards"),
    ("import PySide6\n", "Qt outside gui/"),
])
def test_an_upward_import_would_be_caught(source, message):
    """A module written in the training layer with a bad import is reported (the checker itself works)."""
    probe = PACKAGE / "training" / "_import_graph_probe.py"
    assert any(message in v for v in violations({probe: "def f():\n    " + source}))


def test_cli_and_gui_never_import_each_other():
    for path in _modules():
        layer = layer_of(module_name(path))
        if layer in ("cli", "gui"):
            other = "gui" if layer == "cli" else "cli"
            assert not [t for _, t in imports_of(path) if t.startswith(f"ddpm_studio.{other}")], path
