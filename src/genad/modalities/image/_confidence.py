"""How sure the image expert's verdicts are: a table of measured verdict accuracy shipped with the package.

``confidence.json`` is written by ``python benchmarks/image_quality.py --confidence-table
src/genad/modalities/image/confidence.json``: for the expert's default settings, how often a verdict
(``score >= 0.5``: anomalous) was right on the labelled image sets of the project's shared data, per reference
regime, verdict and margin ``|score - 0.5|``, each set weighted equally.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["CONFIDENCE_TABLE", "confidence_table", "verdict_confidence"]

CONFIDENCE_TABLE = Path(__file__).with_name("confidence.json")
NOT_MEASURED = ("threads", "seed", "max_regions")  # parameters that do not change how often verdicts are right


@lru_cache(maxsize=1)
def confidence_table() -> dict[str, Any] | None:
    """The shipped table (``None`` when missing or unreadable)."""
    try:
        table = json.loads(CONFIDENCE_TABLE.read_text())
    except (OSError, ValueError):
        return None
    return table if isinstance(table, dict) else None


def verdict_confidence(params: dict[str, Any], regime: str | None, score: float) -> tuple[float | None, str]:
    """How often verdicts like this one were right, and a note saying so.

    ``params``: the expert's parameters (the table applies only to the settings it was measured for);
    ``regime``: ``"batch"`` (zero-shot ``score_many``), ``"1 reference"``, ``"2+ references"``, or ``None`` (one
    image scored against itself, not measured). The accuracy is looked up for the verdict (anomalous or normal) and
    its margin band. ``None`` with a note saying why when nothing was measured for the case.
    """
    if regime is None:
        return None, "confidence not stated: one image scored against itself was not measured"
    table = confidence_table()
    mine = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    if table is None or any(mine.get(k) != v for k, v in table["params"].items() if k not in NOT_MEASURED):
        return None, "confidence not stated: verdict accuracy was measured for the default settings only"
    verdict = "anomalous" if score >= 0.5 else "normal"
    bands = table["regimes"][regime][verdict]["bands"]
    margin = abs(score - 0.5)
    band = next((b for b in bands if b["margin"][0] <= margin < b["margin"][1]), bands[-1])
    low, high = band["margin"]
    return float(band["accuracy"]), (
        f"{regime}: {verdict} verdicts at a margin |score - 0.5| of {low:.1f}-{high:.1f} were right "
        f"{band['accuracy']:.0%} of the time on {len(table['sets'])} public image sets (default settings, "
        f"python benchmarks/image_quality.py --confidence-table)")
