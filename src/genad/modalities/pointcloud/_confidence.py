"""How sure the point-cloud expert's verdicts are: ``confidence.json``, the measured verdict accuracy of its defaults.

Written by ``python benchmarks/pointcloud_quality.py ../shared/data/pointcloud_mesh_defects --confidence-table
src/genad/modalities/pointcloud/confidence.json``: every cloud of the eight objects scored zero-shot (alone), 1-shot
(against the first good cloud) and as a batch (``score_many``).
"""

from __future__ import annotations

from pathlib import Path

from genad._confidence import VerdictTable

__all__ = ["TABLE"]

TABLE = VerdictTable(Path(__file__).with_name("confidence.json"), units="objects of pointcloud_mesh_defects",
                     command="python benchmarks/pointcloud_quality.py DATA --confidence-table")
