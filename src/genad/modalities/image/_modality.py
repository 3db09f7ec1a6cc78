"""The image modality: photographs and scans, regions as pixel boxes and masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from genad._modality import Component, ModalityBase
from genad._report import AnomalyReport
from genad._sample import load_with
from genad.modalities.image._sample import IMAGE_SUFFIXES, ImageSample

if TYPE_CHECKING:
    from genad.eval import EvalRecord
    from genad.modalities.image._expert import ImageExpert
    from genad.modalities.image._render import ImageRenderer

__all__ = ["ImageModality", "modality"]

PIXEL_MAX_SIDE = 256
"""Pixel metrics run on masks and maps area-resized to at most this many pixels on the long side (a resized mask
keeps the pixels at least half covered), so memory stays bounded on full benchmarks."""
TRUTH_COLOUR = (40, 220, 40)


class ImageModality(ModalityBase):
    """Images: photographs and scans, regions as pixel boxes and masks.

    Samples are :class:`~genad.modalities.image.ImageSample`, rendered as they are, scored by the patch-kNN
    :class:`~genad.modalities.image.ImageExpert`.
    """

    name = "image"
    suffixes = IMAGE_SUFFIXES
    anomaly_phrase = "anomalies or defects"
    coordinates = "pixels: boxes (x0, y0, x1, y1) and masks the size of the image"

    def accepts(self, obj: object) -> bool:
        """PIL images, and arrays shaped ``(H, W)`` or ``(H, W, 1 | 3 | 4)``."""
        if type(obj).__module__.startswith("PIL."):
            return True
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj)
        return isinstance(obj, np.ndarray) and (obj.ndim == 2 or (obj.ndim == 3 and obj.shape[2] in (1, 3, 4)))

    def load(self, obj: object, *, name: str | None = None) -> ImageSample:
        return load_with(ImageSample, obj, name)

    def default_renderer(self) -> ImageRenderer:
        from genad.modalities.image._render import ImageRenderer

        return ImageRenderer()

    def default_expert(self) -> ImageExpert:
        from genad.modalities.image._expert import ImageExpert

        return ImageExpert()

    def check_dependencies(self, component: Component) -> None:
        """The expert needs onnxruntime, onnx and the EfficientNet-Lite0 weights (the ``image`` extra)."""
        if component == "expert":
            from genad.modalities.image._expert import check_dependencies

            check_dependencies()

    def picture(self, report: AnomalyReport, sample: Any = None) -> np.ndarray:
        """The image with the anomaly map as a heatmap and the regions drawn (:func:`genad.annotate.draw_report`)."""
        from genad.annotate import draw_report

        return draw_report(report, self._sample_of(report, sample).pixels)

    def metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """Image AUROC, AP and best F1; pixel AUROC and AUPRO where masks exist."""
        import cv2

        from genad import metrics

        labels = [r.item.label for r in records]
        scores = [r.report.score or 0.0 for r in records]
        out = {"image_auroc": metrics.auroc(labels, scores), "image_ap": metrics.average_precision(labels, scores),
               "f1_max": metrics.f1_max(labels, scores)}
        if not any(r.item.mask is not None for r in records):
            return out
        masks, maps = [], []
        for r in records:
            mask = _truth(r)
            if mask is None:
                continue
            amap = metrics.score_map(r.report, mask.shape)
            h, w = mask.shape
            scale = PIXEL_MAX_SIDE / max(h, w)
            if scale < 1:
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
                amap = cv2.resize(amap, size, interpolation=cv2.INTER_AREA)
            masks.append(mask)
            maps.append(amap)
        out["pixel_auroc"] = metrics.pixel_auroc(masks, maps)
        out["aupro"] = metrics.aupro(masks, maps)
        return out

    def eval_picture(self, record: EvalRecord) -> np.ndarray | None:
        """The overlay with the ground-truth mask outlined in green."""
        import cv2

        overlay = self.picture(record.report, record.item.sample)
        mask = record.item.load_mask() if record.item.mask is not None else None
        if mask is None:
            return overlay
        h, w = overlay.shape[:2]
        m = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out = np.ascontiguousarray(overlay)
        cv2.drawContours(out, contours, -1, TRUTH_COLOUR, max(1, round(min(h, w) / 200)), lineType=cv2.LINE_AA)
        return out


def _truth(record: EvalRecord) -> np.ndarray | None:
    """The record's ground-truth mask: its mask file, all-normal for a normal image, ``None`` when unknown."""
    item = record.item
    if item.mask is not None:
        return item.load_mask()
    if item.label == 1:
        return None  # anomalous without a mask: no pixel ground truth
    sample = ImageSample.from_path(item.sample) if isinstance(item.sample, str) else load_with(ImageSample, item.sample)
    return np.zeros((sample.height, sample.width), dtype=bool)


modality = ImageModality()
"""The image modality object, as registered."""
