"""Verdict-accuracy tables: what ``benchmarks/_confidence.py`` writes is what ``genad._confidence`` reads back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from genad._confidence import VerdictTable

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_confidence", BENCHMARKS / "_confidence.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scored() -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Two units: in "a" every confident anomalous verdict is right, in "b" half of them are wrong; "b" has four
    times as many items, which must not give it four times the weight."""
    a = [(1, 0.95)] * 25 + [(0, 0.05)] * 25
    b = [(1, 0.95)] * 50 + [(0, 0.95)] * 50 + [(0, 0.05)] * 100
    return {"alone": {"a": a, "b": b}}


def test_table_weights_units_equally_and_reads_back(tmp_path: Path) -> None:
    table = _writer().build_table(_scored(), about="test", config="default", params={"k": 3, "radii": (1, 2)},
                                  protocol="test-v1")
    anomalous = table["regimes"]["alone"]["anomalous"]
    assert anomalous["items"] == 125
    assert anomalous["accuracy"] == pytest.approx(0.75)  # unit a: 1.0, unit b: 0.5, each counted once
    top = anomalous["bands"][-1]
    assert top["margin"] == [0.3, 0.5] and not top["pooled"] and top["accuracy"] == pytest.approx(0.75)
    assert table["regimes"]["alone"]["normal"]["accuracy"] == 1.0
    check = table["check"]["alone"]  # each unit looked up in the table of the other
    assert check["predicted"] == pytest.approx((0.75 + 1.0) / 2)  # a from b: 0.5 and 1.0; b from a: 1.0
    assert check["actual"] == pytest.approx((1.0 + 0.75) / 2)

    path = tmp_path / "confidence.json"
    path.write_text(json.dumps(table))
    reader = VerdictTable(path, units="test sets", command="python make_table.py")
    confidence, note = reader.confidence({"k": 3, "radii": (1, 2), "seed": 9}, "alone", 0.9)
    assert confidence == pytest.approx(0.75)
    assert note.startswith("alone: anomalous verdicts at a margin |score - 0.5| of 0.3-0.5 were right 75% ")
    assert "(125 verdicts on 2 test sets; default settings, python make_table.py)" in note
    sparse, note = reader.confidence({"k": 3, "radii": (1, 2)}, "alone", 0.55)  # no item in that band
    assert sparse == pytest.approx(0.75) and "at any margin" in note
    assert reader.confidence({"k": 4, "radii": (1, 2)}, "alone", 0.9) == (
        None, "confidence not stated: verdict accuracy was measured for the default settings only")
    assert reader.confidence({"k": 3, "radii": (1, 2)}, "batch", 0.9)[0] is None


def test_a_missing_table_states_nothing(tmp_path: Path) -> None:
    reader = VerdictTable(tmp_path / "absent.json", units="sets", command="none")
    assert reader.read() is None
    confidence, note = reader.confidence({}, "alone", 0.9)
    assert confidence is None and "not measured" in note
