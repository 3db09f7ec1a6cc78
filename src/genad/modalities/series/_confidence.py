"""How sure the series expert's verdicts are: ``confidence.json``, the measured verdict accuracy of its defaults.

Written by ``python benchmarks/series_quality.py --confidence-table src/genad/modalities/series/confidence.json``:
every labelled series of NAB, SKAB, UCR and SMAP/MSL cut into four equal parts, each scored alone.
"""

from __future__ import annotations

from pathlib import Path

from genad._confidence import VerdictTable

__all__ = ["TABLE"]

TABLE = VerdictTable(Path(__file__).with_name("confidence.json"),
                     units="public series datasets, each series cut into four parts scored alone",
                     command="python benchmarks/series_quality.py --confidence-table")
