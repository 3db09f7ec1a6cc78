"""Pictures of a report: :func:`draw_report` backs :meth:`AnomalyReport.overlay`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from genad.marks import blend_heatmap, draw_box
from genad.samples.image import ImageSample

if TYPE_CHECKING:
    from genad.report import AnomalyReport

__all__ = ["SOURCE_COLOURS", "draw_report"]

SOURCE_COLOURS = {"expert": (255, 160, 0), "vlm": (0, 200, 255), "hybrid": (255, 0, 200)}


def draw_report(report: AnomalyReport, image: Any) -> np.ndarray:
    """``image`` (path, array or PIL image) as RGB uint8 with the report drawn on it.

    The anomaly map, when the report has a 2-D one, is blended as a heatmap; each region with a mask gets its
    outline, each region with a box its rectangle, tagged with its number, label and confidence and coloured by
    source (orange: expert, cyan: VLM, magenta: both).
    """
    sample = image if isinstance(image, ImageSample) else ImageSample.from_path(image) \
        if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__") else ImageSample.from_array(image)
    canvas = np.array(sample.pixels, copy=True)
    if report.anomaly_map is not None and np.ndim(report.anomaly_map) == 2:
        canvas = blend_heatmap(canvas, report.anomaly_map)
    h, w = canvas.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    for number, region in enumerate(report.regions, 1):
        colour = SOURCE_COLOURS.get(region.source, (255, 255, 255))
        if region.mask is not None and region.mask.ndim == 2:
            mask = region.mask.astype(np.uint8)
            if mask.shape != (h, w):
                mask = np.asarray(cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST), dtype=np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(canvas, contours, -1, colour, thick, lineType=cv2.LINE_AA)
        box = region.box
        if box is None and region.mask is not None and region.mask.any():
            ys, xs = np.nonzero(region.mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        if box is not None:
            text = f"{number} {region.label}".strip()
            if region.confidence is not None:
                text += f" {region.confidence:.2f}"
            draw_box(canvas, box, text, colour)
    return canvas
