"""Verdict-accuracy tables for the experts' ``confidence``, shared by the quality benchmarks.

A benchmark passes, per regime (how samples were scored: ``"zero-shot"``, ``"1 reference"``, ``"batch"`` …) and
per unit (a labelled set, an object, a clip), the ``(label, score)`` of every scored item. :func:`build_table`
gives how often a verdict (``score >= 0.5``: anomalous) was right per regime, verdict and margin band
``|score - 0.5|``, each unit weighted equally, plus a leave-one-unit-out check: each unit's items looked up in a
table built on the other units, predicted against actual accuracy. ``genad._confidence.VerdictTable`` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["MARGIN_BANDS", "build_table", "lookup"]

MARGIN_BANDS = ((0.0, 0.1), (0.1, 0.3), (0.3, 0.5))  # |score - 0.5|
MIN_ITEMS = 20  # a band with fewer scored items takes the accuracy of its regime and verdict

Scored = Mapping[str, Sequence[tuple[int, float]]]  # unit -> (label, score) of its items
Row = tuple[str, bool, float, bool, float]  # unit, verdict, margin, right, weight


def _rows(scored: Scored) -> list[Row]:
    """Every item as a row; weights make each unit count once (1 / the unit's items)."""
    rows = []
    for unit, items in scored.items():
        for y, score in items:
            rows.append((unit, score >= 0.5, abs(score - 0.5), (score >= 0.5) == bool(y), 1.0 / len(items)))
    return rows


def _accuracy(rows: list[Row]) -> float:
    weights = np.array([r[4] for r in rows])
    return round(float(np.sum(weights * [r[3] for r in rows]) / weights.sum()), 3) if rows else float("nan")


def _cells(rows: list[Row]) -> dict[str, Any]:
    """Per verdict, the unit-weighted accuracy overall and per margin band (sparse bands: the overall one)."""
    out: dict[str, Any] = {}
    for verdict, name in ((True, "anomalous"), (False, "normal")):
        mine = [r for r in rows if r[1] == verdict]
        overall = _accuracy(mine)
        bands = []
        for lo, hi in MARGIN_BANDS:
            band = [r for r in mine if lo <= r[2] < hi or (hi == MARGIN_BANDS[-1][1] and r[2] >= hi)]
            sparse = len(band) < MIN_ITEMS
            bands.append({"margin": [lo, hi], "accuracy": overall if sparse else _accuracy(band),
                          "items": len(band), "sets": len({r[0] for r in band}), "pooled": sparse})
        out[name] = {"accuracy": overall, "items": len(mine), "sets": len({r[0] for r in mine}), "bands": bands}
    return out


def lookup(cells: Mapping[str, Any], score: float) -> float:
    """The accuracy of ``cells`` (one regime's) for a verdict at ``score``, as the expert looks it up."""
    verdict = cells["anomalous" if score >= 0.5 else "normal"]
    margin = abs(score - 0.5)
    for band in verdict["bands"]:
        if band["margin"][0] <= margin < band["margin"][1]:
            return float(band["accuracy"])
    return float(verdict["bands"][-1]["accuracy"])


def _check(scored: Scored) -> dict[str, float]:
    """Leave one unit out: its items looked up in the table of the others, against how often they were right;
    Brier scores of that lookup and of the others' overall accuracy (``brier_regime_only``)."""
    predicted, actual, brier, brier_flat = [], [], [], []
    for held, items in scored.items():
        if not items:
            continue
        others = _rows({u: v for u, v in scored.items() if u != held and v})
        cells, flat = _cells(others), _accuracy(others)
        conf = np.array([lookup(cells, s) for _, s in items])
        right = np.array([(s >= 0.5) == bool(y) for y, s in items], dtype=float)
        predicted.append(float(conf.mean()))
        actual.append(float(right.mean()))
        brier.append(float(np.mean((conf - right) ** 2)))
        brier_flat.append(float(np.mean((flat - right) ** 2)))
    return {k: round(float(np.mean(v)), 3) for k, v in (
        ("predicted", predicted), ("actual", actual), ("brier", brier), ("brier_regime_only", brier_flat))}


def build_table(scored: Mapping[str, Scored], *, about: str, config: str, params: Mapping[str, Any],
                protocol: str) -> dict[str, Any]:
    """The table ``genad._confidence.VerdictTable`` reads.

    Parameters
    ----------
    scored
        Per regime, per unit, the ``(label, score)`` of every scored item.
    about
        What was measured and the command that writes the table.
    config, params
        The name and the parameters of the measured expert settings (the expert states a confidence only when
        its parameters match ``params``).
    protocol
        The benchmark's protocol name.
    """
    units = sorted({u for by_unit in scored.values() for u, items in by_unit.items() if items})
    regimes = {regime: _cells(_rows({u: v for u, v in by_unit.items() if v})) for regime, by_unit in scored.items()}
    check: dict[str, Any] = {regime: _check(by_unit) for regime, by_unit in scored.items()}
    check["summary"] = "leave-one-set-out: " + "; ".join(
        f"{r}: predicted {c['predicted']:.2f}, right {c['actual']:.2f}, Brier {c['brier']:.3f} (regime only "
        f"{c['brier_regime_only']:.3f})" for r, c in check.items())
    return {"about": about, "config": config, "params": dict(params), "sets": units, "protocol": protocol,
            "regimes": regimes, "check": check}
