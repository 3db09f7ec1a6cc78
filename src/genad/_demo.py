"""The offline demo behind ``genad demo``: code-drawn parts and textures, scored by the local image expert.

>>> from genad._demo import run_demo
>>> reports = run_demo("demo_out")  # writes demo_out/<name>.png overlays  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import cv2

from genad import AnomalyReport
from genad.modalities.image import ImageSample
from genad.synthetic import CATEGORIES, make_set

__all__ = ["run_demo"]


def run_demo(out_dir: str | Path, shots: int = 3, seed: int = 0) -> list[AnomalyReport]:
    """Generate the synthetic set, score it with ``shots`` normal references per category, write overlays.

    Per category the first ``shots`` normal images are the references; the other normal images and every
    defective one are scored by ``Detector(mode="local")``. Each report's overlay (heatmap and regions) is
    written to ``out_dir/<name>.png``. Returns the reports in category order, normal images first.
    """
    from genad import Detector

    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = make_set(n_good=shots + 2, n_per_defect=1, seed=seed)
    detector = Detector(mode="local")
    reports: list[AnomalyReport] = []
    for category in CATEGORIES:
        mine = [it for it in items if it.category == category]
        refs = [ImageSample(it.image, name=it.name) for it in mine if it.defect is None][:shots]
        queries = [ImageSample(it.image, name=it.name) for it in mine if it.name not in {r.name for r in refs}]
        found = detector.detect_many(queries, references=refs, category=category, progress=False, errors="raise")
        for sample, report in zip(queries, found, strict=True):
            picture = report.picture(sample)
            cv2.imwrite(str(out / f"{sample.name}.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        reports.extend(found)
    return reports
