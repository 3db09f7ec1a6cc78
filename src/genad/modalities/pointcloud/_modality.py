"""The point-cloud modality: 3-D scans and meshes, regions as point indices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from genad._modality import ModalityBase
from genad._report import AnomalyReport
from genad._sample import load_with
from genad.modalities.pointcloud._sample import MESH_SUFFIXES, PointCloudSample

if TYPE_CHECKING:
    from genad.eval import EvalRecord
    from genad.modalities.pointcloud._expert import PointCloudExpert
    from genad.modalities.pointcloud._render import PointCloudRenderer, PointCloudRendering

__all__ = ["PointCloudModality", "modality"]


class PointCloudModality(ModalityBase):
    """Point clouds and meshes, regions as point indices.

    They are rendered as multi-view depth images and scored by the geometric
    :class:`~genad.modalities.pointcloud.PointCloudExpert`.
    """

    name = "pointcloud"
    suffixes = (".ply", ".pcd", ".xyz", ".pts", *MESH_SUFFIXES)
    anomaly_phrase = "anomalies or defects"
    coordinates = "points: indices into the cloud's points"

    def accepts(self, obj: object) -> bool:
        """trimesh objects and ``(N, 3)`` float arrays."""
        if not isinstance(obj, np.ndarray) and type(obj).__module__.startswith("trimesh."):
            return True
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj)
        return isinstance(obj, np.ndarray) and obj.ndim == 2 and obj.shape[1] == 3 and obj.dtype.kind == "f"

    def load(self, obj: object, *, name: str | None = None) -> PointCloudSample:
        return load_with(PointCloudSample, obj, name)

    def default_renderer(self) -> PointCloudRenderer:
        from genad.modalities.pointcloud._render import PointCloudRenderer

        return PointCloudRenderer()

    def default_expert(self) -> PointCloudExpert:
        from genad.modalities.pointcloud._expert import PointCloudExpert

        return PointCloudExpert()

    def picture(self, report: AnomalyReport, sample: Any = None) -> np.ndarray:
        """The cloud's views in grey shading, with the point scores and the regions drawn on them.

        The expert's point scores are a heatmap; each region's points are painted in its source's colour and boxed
        with its number (its position in ``report.regions``) in every view where they are visible. The views are
        those of the default renderer (:class:`~genad.modalities.pointcloud.PointCloudRenderer`), tiled in one
        image; a point is painted where it is the nearest point to the camera.
        """
        from dataclasses import replace

        from genad.annotate import SOURCE_COLOURS, blend_heatmap, mark_region, tint

        cloud = self._sample_of(report, sample)
        rendering = replace(self.default_renderer(), style="normals", composite=True).render(cloud)
        image = rendering.images[0]
        n = rendering.n_points
        amap = report.anomaly_map
        if amap is not None and np.ndim(amap) == 1 and len(amap) == n:
            scores = np.append(np.clip(np.nan_to_num(np.asarray(amap, np.float32)), 0, 1), np.float32(0))
            image = blend_heatmap(image, self._on_grid(rendering, image.shape[:2], scores, np.float32(0)))
        for number, region in enumerate(report.regions, 1):
            if region.indices is None or len(region.indices) == 0:
                continue
            colour = SOURCE_COLOURS.get(region.source, (255, 255, 255))
            flagged = np.zeros(n + 1, dtype=bool)  # slot n stands for the background (-1)
            indices = np.asarray(region.indices, dtype=np.int64)
            flagged[indices[(indices >= 0) & (indices < n)]] = True
            image = tint(image, self._on_grid(rendering, image.shape[:2], flagged, False), colour, 0.75)
            for view in rendering.to_views(region):
                if view.box is not None:
                    image = mark_region(image, view.box, number, region, number_only=True)
        return image

    @staticmethod
    def _on_grid(rendering: PointCloudRendering, shape: tuple[int, ...], per_point: np.ndarray,
                 empty: Any) -> np.ndarray:
        """``per_point[index]`` at every pixel of the composite where point ``index`` is drawn (``per_point[-1]``
        is the background's value), ``empty`` between the views."""
        out = np.full(shape, empty, dtype=per_point.dtype)
        for point_map, (ox, oy) in zip(rendering.point_maps, rendering.view_origins, strict=True):
            h, w = point_map.shape
            out[oy:oy + h, ox:ox + w] = per_point[point_map]
        return out

    def metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """Object AUROC (one score per cloud) and point AUROC (every point of every labelled cloud)."""
        from genad import metrics

        labelled = [r for r in records if r.item.point_labels is not None]
        point_labels = [np.asarray(r.item.point_labels) for r in labelled]
        point_scores = [metrics.dense_scores(r.report, len(x)) for r, x in zip(labelled, point_labels, strict=True)]
        return {"object_auroc": metrics.auroc([r.item.label for r in records],
                                              [r.report.score or 0.0 for r in records]),
                "point_auroc": metrics.point_auroc(point_labels, point_scores)}


modality = PointCloudModality()
"""The point-cloud modality object, as registered."""
