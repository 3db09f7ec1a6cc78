"""How sure an expert's verdicts are: a table of measured verdict accuracy that a modality ships beside its expert.

A table is JSON written by one of the quality benchmarks (``benchmarks/_confidence.py`` builds it): for the
expert's default settings, how often a verdict (``score >= 0.5``: anomalous) was right on the labelled sets of the
project's shared data, per regime (how the sample was scored: zero-shot, one reference, a batch …), verdict and
margin ``|score - 0.5|``, each set weighted equally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["VerdictTable", "params_of"]

NOT_MEASURED = ("threads", "seed", "max_regions", "chunk")  # parameters that do not change how often verdicts are right


def params_of(expert: Any) -> dict[str, Any]:
    """The constructor parameters of a dataclass expert, as a table's ``params`` records them."""
    return {f.name: getattr(expert, f.name) for f in fields(expert) if f.init}


@lru_cache(maxsize=8)
def _read(path: Path) -> dict[str, Any] | None:
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return table if isinstance(table, dict) else None


@dataclass(frozen=True)
class VerdictTable:
    """A shipped verdict-accuracy table and how to cite it in a report's note.

    Parameters
    ----------
    path
        The JSON table (read on first use, then cached).
    units
        What the table's ``sets`` are, in the note: ``"public image sets"``.
    command
        The command that writes the table, in the note.
    """

    path: Path
    units: str
    command: str

    def read(self) -> dict[str, Any] | None:
        """The table (``None`` when missing or unreadable)."""
        return _read(self.path)

    def confidence(self, params: dict[str, Any], regime: str, score: float) -> tuple[float | None, str]:
        """How often verdicts like this one were right, and a note saying so.

        Parameters
        ----------
        params
            The expert's parameters: the table applies only to the settings it was measured for.
        regime
            How the sample was scored, a key of the table's ``regimes``; a regime the table lacks states no
            confidence.
        score
            The expert's score; its verdict (anomalous at ``>= 0.5``) and margin ``|score - 0.5|`` pick the band.

        Returns
        -------
        tuple
            The accuracy (``None`` with a note saying why when nothing was measured for the case) and the note.
        """
        table = self.read()
        if table is None or regime not in table["regimes"]:
            return None, f"confidence not stated: {regime!r} verdicts were not measured"
        mine = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        if any(mine.get(k) != v for k, v in table["params"].items() if k not in NOT_MEASURED):
            return None, "confidence not stated: verdict accuracy was measured for the default settings only"
        verdict = "anomalous" if score >= 0.5 else "normal"
        cell = table["regimes"][regime][verdict]
        margin = abs(score - 0.5)
        band = next((b for b in cell["bands"] if b["margin"][0] <= margin < b["margin"][1]), cell["bands"][-1])
        low, high = band["margin"]
        which = "at any margin" if band["pooled"] else f"at a margin |score - 0.5| of {low:.1f}-{high:.1f}"
        items = cell["items"] if band["pooled"] else band["items"]
        return float(band["accuracy"]), (
            f"{regime}: {verdict} verdicts {which} were right {band['accuracy']:.0%} of the time ({items} verdicts "
            f"on {len(table['sets'])} {self.units}; default settings, {self.command})")
