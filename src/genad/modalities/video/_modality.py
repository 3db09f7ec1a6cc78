"""The video modality: clips and frame folders, regions as frame intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genad import metrics
from genad._modality import ModalityBase
from genad._report import AnomalyReport
from genad._sample import load_with
from genad.modalities.video._sample import FRAME_SUFFIXES, VIDEO_SUFFIXES, VideoSample

if TYPE_CHECKING:
    from genad.eval import EvalRecord
    from genad.modalities.video._expert import VideoExpert
    from genad.modalities.video._render import VideoRenderer

__all__ = ["VideoModality", "modality"]


class VideoModality(ModalityBase):
    """Videos: clips and frame folders, regions as frame intervals.

    They are rendered as keyframe grids and scored by the optical-flow
    :class:`~genad.modalities.video.VideoExpert`.
    """

    name = "video"
    suffixes = VIDEO_SUFFIXES
    anomaly_phrase = "anomalies or outliner points"  # the study's wording for video and series prompts
    coordinates = "frames: inclusive (first, last) frame intervals, with their times in seconds"

    def accepts(self, obj: object) -> bool:
        """Folders of frame images, and arrays shaped ``(T, H, W)`` or ``(T, H, W, C)``."""
        if isinstance(obj, (str, Path)):
            path = Path(obj)
            return path.is_dir() and any(p.suffix.lower() in FRAME_SUFFIXES for p in path.iterdir())
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj)
        return isinstance(obj, np.ndarray) and obj.ndim in (3, 4)

    def load(self, obj: object, *, name: str | None = None) -> VideoSample:
        return load_with(VideoSample, obj, name)

    def default_renderer(self) -> VideoRenderer:
        from genad.modalities.video._render import VideoRenderer

        return VideoRenderer()

    def default_expert(self) -> VideoExpert:
        from genad.modalities.video._expert import VideoExpert

        return VideoExpert()

    def picture(self, report: AnomalyReport, sample: Any = None) -> np.ndarray:
        """The keyframe grids of the default renderer, one under the other, with the report drawn on them.

        The cells of flagged frames are tinted and framed in their region's source colour with its number, and
        under each thumbnail a bar is coloured by the highest frame score of its cell (turbo: blue low, red high)
        when the report has per-frame scores.
        """
        from genad.annotate import mark_region, stack

        video = self._sample_of(report, sample)
        rendering = self.default_renderer().render(video)
        images = [np.array(img, copy=True) for img in rendering.images]
        amap = report.anomaly_map
        if amap is not None and np.ndim(amap) == 1 and len(amap) == video.n_frames:
            import cv2

            scores = np.clip(np.nan_to_num(np.asarray(amap, np.float32)), 0, 1)
            cell_score = np.array([scores[a:b + 1].max() for a, b in rendering.cell_frames], dtype=np.float32)
            colours = cv2.applyColorMap((cell_score * 255).astype(np.uint8).reshape(1, -1), cv2.COLORMAP_TURBO)
            colours = cv2.cvtColor(colours, cv2.COLOR_BGR2RGB)[0]
            for image, cells, boxes in zip(images, rendering.grid_cells, rendering.cell_boxes, strict=True):
                for cell, (x0, _y0, x1, y1) in zip(cells, boxes, strict=True):
                    image[y1 - 6:y1, x0:x1] = colours[cell]
        for number, region in enumerate(report.regions, 1):
            first = True
            for view in rendering.to_views(region):  # one box per run of cells on a grid row; the first is tagged
                if view.box is not None and 0 <= view.view < len(images):
                    images[view.view] = mark_region(images[view.view], view.box, number, region, shade=0.3,
                                                    tag=first)
                    first = False
        return stack(images, background=(40, 40, 40))

    def metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """Frame AUROC over the frames of the category's clips.

        In UCSD's layout a category is one clip; the AUROC is ``nan`` for a clip that is anomalous throughout.
        """
        labels, scores = self.roc_points(records)
        return {"frame_auroc": metrics.auroc(labels, scores)}

    def pooled_metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """Frame AUROC over every frame of every clip (``frame_auroc_pooled``).

        It is defined even when a clip is anomalous throughout, and it needs scores that compare across clips.
        """
        labels, scores = self.roc_points(records)
        return {"frame_auroc_pooled": metrics.auroc(labels, scores)}

    def roc_points(self, records: Sequence[EvalRecord]) -> tuple[np.ndarray, np.ndarray]:
        """One point per frame."""
        labelled = [r for r in records if r.item.frame_labels is not None]
        labels = [np.asarray(r.item.frame_labels) for r in labelled]
        scores = [metrics.dense_scores(r.report, len(x)) for r, x in zip(labelled, labels, strict=True)]
        return (np.concatenate(labels) if labels else np.zeros(0, np.int8),
                np.concatenate(scores) if scores else np.zeros(0))

    def eval_picture(self, record: EvalRecord) -> np.ndarray | None:
        """Per-frame scores against frame number, anomalous frames shaded."""
        from genad.annotate import score_plot

        n = len(record.item.frame_labels) if record.item.frame_labels is not None else record.item.length
        return score_plot(record.report, n, record.item.windows, xlabel="frame")


modality = VideoModality()
"""The video modality object, as registered."""
