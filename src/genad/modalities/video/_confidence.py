"""How sure the video expert's verdicts are: ``confidence.json``, the measured verdict accuracy of its defaults.

Written by ``python benchmarks/video_quality.py --confidence-table src/genad/modalities/video/confidence.json``:
every run of one label (all normal or all anomalous frames) of the UCSD Ped2 clips scored as a video of its own.
"""

from __future__ import annotations

from pathlib import Path

from genad._confidence import VerdictTable

__all__ = ["TABLE"]

TABLE = VerdictTable(Path(__file__).with_name("confidence.json"),
                     units="UCSD Ped2 clips (each run of one label scored as a video)",
                     command="python benchmarks/video_quality.py --confidence-table")
