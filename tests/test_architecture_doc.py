"""docs/architecture.md stays true where a test can tell: every app/ module is in its table, every sampler of
the engine's table is reachable by name, and the contracts the doc names are the ones pyproject holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_every_app_module_is_in_the_docs_table() -> None:
    modules = sorted(p.name for p in (REPO / "ddpm_studio" / "app").glob("*.py") if p.name != "__init__.py")
    listed = set(re.findall(r"^\| `app/(\w+\.py)` \|", DOC, flags=re.MULTILINE))
    assert set(modules) == listed, (sorted(set(modules) - listed), sorted(listed - set(modules)))


def test_the_contracts_the_doc_describes_are_in_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    kinds = {c["id"]: c["type"] for c in config["contracts"]}
    assert kinds == {"layers": "layers", "no-qt-below-gui": "forbidden"}
    assert "lint-imports" in (REPO / ".ci" / "run").read_text(encoding="utf-8") and "lint-imports" in DOC


def test_every_sampler_row_has_words_a_cost_and_a_grid_the_doc_names() -> None:
    from ddpm_studio.engine import GRIDS, SAMPLERS

    for name, row in SAMPLERS.items():
        assert row.label and row.cost(2) >= 2 and row.grid in GRIDS, name
    assert "sampler_table.py" in DOC and "grids.py" in DOC and "fit_steps" in DOC
