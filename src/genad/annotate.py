"""Set-of-Mark drawing for hybrid mode: the local expert's candidate regions as numbered boxes on a rendering.

:func:`draw_marks` projects each native :class:`~genad.Region` onto the rendered images with
:meth:`Rendering.to_views` and draws it as a numbered box (mark ``k`` is ``regions[k - 1]``), optionally over a
heatmap of the expert's anomaly map. The copy keeps the rendering's class and geometry, so a box the VLM names
on the marked image maps back to the sample exactly like one named on the plain image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from genad._rendering import Rendering
from genad._report import AnomalyReport, Region
from genad.modalities.image._sample import ImageSample

__all__ = ["MARK_COLOURS", "SOURCE_COLOURS", "blend_heatmap", "draw_box", "draw_marks", "draw_report"]

MARK_COLOURS = ((255, 64, 64), (255, 200, 0), (0, 220, 255), (255, 0, 255), (64, 255, 64), (255, 128, 0))


def blend_heatmap(image: np.ndarray, score_map: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``image`` (RGB uint8) with ``score_map`` (values in [0, 1], any size) blended on top as a turbo colour map.

    Pixels scoring below 0.1 keep their colour, so a normal image stays readable.
    """
    h, w = image.shape[:2]
    scores = np.clip(np.nan_to_num(np.asarray(score_map, dtype=np.float32)), 0.0, 1.0)
    if scores.shape != (h, w):
        scores = np.asarray(cv2.resize(scores, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    colours = cv2.cvtColor(cv2.applyColorMap((scores * 255).astype(np.uint8), cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(scores / 0.3, 0.0, 1.0))[:, :, None]
    return (image.astype(np.float32) * (1 - weight) + colours.astype(np.float32) * weight).astype(np.uint8)


def draw_box(image: np.ndarray, box: tuple[float, float, float, float], text: str,
             colour: tuple[int, int, int]) -> None:
    """Draw ``box`` with ``text`` in a filled tag at its top-left corner, in place, sized to the image."""
    h, w = image.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, x1 = max(0, min(x0, w - 1)), max(0, min(x1, w - 1))
    y0, y1 = max(0, min(y0, h - 1)), max(0, min(y1, h - 1))
    cv2.rectangle(image, (x0, y0), (x1, y1), (0, 0, 0), thick + 2, lineType=cv2.LINE_AA)
    cv2.rectangle(image, (x0, y0), (x1, y1), colour, thick, lineType=cv2.LINE_AA)
    if not text:
        return
    scale = max(0.4, min(h, w) / 500)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    tx = min(max(0, x0), max(0, w - tw - 4))
    ty = y0 - th - base - 4 if y0 - th - base - 4 >= 0 else min(y0 + 1, max(0, h - th - base - 4))
    cv2.rectangle(image, (tx, ty), (tx + tw + 4, ty + th + base + 4), colour, -1)
    dark = sum(colour) > 380
    cv2.putText(image, text, (tx + 2, ty + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0) if dark else (255, 255, 255), thick, lineType=cv2.LINE_AA)


def draw_marks(rendering: Rendering, regions: Sequence[Region], anomaly_map: np.ndarray | None = None) -> Rendering:
    """A copy of ``rendering`` with ``regions`` drawn as numbered marks 1..k, and ``anomaly_map`` as a heatmap.

    The heatmap is drawn only for 2-D maps (images), stretched over each rendered image. Regions that do not
    project onto any image (``to_views`` returns nothing) keep their number but are not drawn.
    """
    images = [np.array(img, dtype=np.uint8, copy=True) for img in rendering.images]
    if anomaly_map is not None and np.ndim(anomaly_map) == 2:
        images = [blend_heatmap(img, anomaly_map) for img in images]
    for number, region in enumerate(regions, 1):
        colour = MARK_COLOURS[(number - 1) % len(MARK_COLOURS)]
        for view in rendering.to_views(region):
            if view.box is not None and 0 <= view.view < len(images):
                draw_box(images[view.view], view.box, str(number), colour)
    labels = [f"{label} with numbered marks" if label else "numbered marks" for label in rendering.labels]
    return replace(rendering, images=images, labels=labels)


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
