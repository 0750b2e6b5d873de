"""A fresh run's history.jsonl, metrics.jsonl, validation.jsonl, best.json and outcome.json hold exactly the keys
docs/run_files.md documents: every required one, and no key it does not list."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "run_files.md"


def _tables(section: str) -> list[dict[str, bool]]:
    """Each markdown table of a section as {key: required}."""
    tables, rows, header = [], {}, None
    for line in [*section.splitlines(), ""]:
        if not line.startswith("|"):
            if rows:
                tables.append(rows)
            rows, header = {}, None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line) <= set("|-: "):
            rows[cells[0].replace("&lt;", "<").replace("&gt;", ">")] = cells[header.index("required")] == "yes"
    return tables


@pytest.fixture(scope="module")
def schema() -> dict[str, list[dict[str, bool]]]:
    sections = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]
    return {s.splitlines()[0].strip(): _tables(s) for s in sections}


@pytest.fixture(scope="module")
def fresh_run(tmp_path_factory, train_tiny_run) -> Path:
    path, _ = train_tiny_run(tmp_path_factory.mktemp("schema"), "fresh", steps=4, metrics_every=2)
    return path


def _check(record: dict, documented: dict[str, bool], where: str) -> None:
    def known(key: str) -> bool:
        return any(re.fullmatch(re.escape(doc).replace("<N>", r"\d+"), key) for doc in documented)

    assert all(known(key) for key in record), f"{where}: undocumented {sorted(k for k in record if not known(k))}"
    missing = [doc for doc, required in documented.items() if required and "<N>" not in doc and doc not in record]
    assert not missing, f"{where}: documented as required but missing: {missing}"


def test_history_records_have_the_documented_keys(schema, fresh_run):
    (table,) = schema["history.jsonl"]
    records = [json.loads(line) for line in (fresh_run / "history.jsonl").read_text().splitlines()]
    assert len(records) == 4
    for record in records:
        _check(record, table, "history.jsonl")


def test_metrics_records_have_the_documented_keys(schema, fresh_run):
    floor_table, ema_table, names = schema["metrics.jsonl"]
    records = [json.loads(line) for line in (fresh_run / "metrics.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds == ["floor", "ema", "ema"]
    for record in records:
        _check(record, floor_table if record["kind"] == "floor" else ema_table, f"metrics.jsonl {record['kind']}")
        _check(record["metrics"], names, "metrics.jsonl metrics")
        assert any(re.fullmatch(r"swd_\d+px", k) for k in record["metrics"])


def test_best_and_outcome_have_the_documented_keys(schema, fresh_run):
    (best,) = schema["best.json"]
    (outcome,) = schema["outcome.json"]
    _check(json.loads((fresh_run / "best.json").read_text()), best, "best.json")
    _check(json.loads((fresh_run / "outcome.json").read_text()), outcome, "outcome.json")


def test_validation_records_have_the_documented_keys(schema, tiny_config, tmp_path):
    from dataclasses import replace

    from ddpm_studio.data.dataset import load_dataset
    from ddpm_studio.training.runs import create_run
    from ddpm_studio.training.trainer import Trainer

    config = tiny_config(max_steps=2, batch_size=8, validation_every_steps=1)
    config = replace(config, data=replace(config.data, source="builtin:shapes?n=120"))  # enough to hold 32 out
    run = create_run(config, root=tmp_path, name="val")
    Trainer(config, load_dataset(config.data), run, device="cpu").run(lambda _event: None)
    (table,) = schema["validation.jsonl"]
    records = [json.loads(line) for line in (run.path / "validation.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    for record in records:
        _check(record, table, "validation.jsonl")


def test_the_schema_check_sees_an_undocumented_key(schema):
    (table,) = schema["history.jsonl"]
    with pytest.raises(AssertionError, match="undocumented"):
        _check({"step": 1, "epoch": 1, "loss": 1.0, "lr": 1.0, "time": 0.0, "wall": 0.0, "surprise": 1}, table, "x")
    with pytest.raises(AssertionError, match="missing"):
        _check({"step": 1}, table, "x")
