"""Find a defect in an image with the local image expert: offline, no model, no key.

The images are drawn by code (``genad.synthetic``): two normal washers are the references, a scratched one is
inspected. The script prints the report and its regions next to the true defect box, and writes the overlay
(anomaly heatmap and boxes) to ``examples_out/image_overlay.png`` (or the folder given as the first argument).

    python examples/image_local.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from genad import Detector
from genad.synthetic import make_image


def main(out_dir: Path) -> None:
    references = [make_image("washer", seed=seed).image for seed in (0, 1)]
    part = make_image("washer", "scratch", seed=105)

    detector = Detector(mode="local")  # the local expert only: never calls a model
    report = detector.detect(part.image, references=references, category="washer")

    print(report)
    print(report.explanation)
    for region in report.regions:  # image regions carry a box in pixels (x0, y0, x1, y1) and a mask
        box = ", ".join(f"{v:.0f}" for v in region.box or ())
        confidence = "-" if region.confidence is None else f"{region.confidence:.2f}"
        print(f"  region {region.label!r}: box ({box}), confidence {confidence}, source {region.source}")
    rows, cols = np.nonzero(part.mask)
    print(f"  true defect box: ({cols.min()}, {rows.min()}, {cols.max()}, {rows.max()})")

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "image_overlay.png"
    cv2.imwrite(str(target), cv2.cvtColor(report.overlay(part.image), cv2.COLOR_RGB2BGR))
    print(f"overlay written to {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples_out"))
