"""The point-cloud modality: 3-D scans and meshes, regions as point indices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from genad._modality import ModalityBase
from genad._sample import load_with
from genad.modalities.pointcloud._sample import MESH_SUFFIXES, PointCloudSample

if TYPE_CHECKING:
    from genad.eval import EvalRecord
    from genad.modalities.pointcloud._expert import PointCloudExpert
    from genad.modalities.pointcloud._render import PointCloudRenderer

__all__ = ["PointCloudModality", "modality"]


class PointCloudModality(ModalityBase):
    """Point clouds and meshes: rendered as multi-view depth images, scored by the geometric
    :class:`~genad.modalities.pointcloud.PointCloudExpert`."""

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
