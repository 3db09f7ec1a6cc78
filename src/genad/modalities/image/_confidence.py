"""How sure the image expert's verdicts are: ``confidence.json``, the measured verdict accuracy of its defaults.

Written by ``python benchmarks/image_quality.py --confidence-table src/genad/modalities/image/confidence.json``
from the labelled image sets of the project's shared data.
"""

from __future__ import annotations

from pathlib import Path

from genad._confidence import VerdictTable

__all__ = ["TABLE"]

TABLE = VerdictTable(Path(__file__).with_name("confidence.json"), units="public image sets",
                     command="python benchmarks/image_quality.py --confidence-table")
