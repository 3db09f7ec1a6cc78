"""Point-cloud modality: the sample, renderer, expert and modality object.

>>> from genad.modalities.pointcloud import PointCloudExpert, PointCloudSample
"""

from typing import TYPE_CHECKING

from genad._lazy import lazy_exports

if TYPE_CHECKING:
    from genad.modalities.pointcloud._expert import PointCloudExpert
    from genad.modalities.pointcloud._modality import PointCloudModality, modality
    from genad.modalities.pointcloud._render import PointCloudRenderer, PointCloudRendering
    from genad.modalities.pointcloud._sample import PointCloudSample

__all__ = ["PointCloudExpert", "PointCloudModality", "PointCloudRenderer", "PointCloudRendering", "PointCloudSample",
           "modality"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "PointCloudExpert": "genad.modalities.pointcloud._expert",
    "PointCloudModality": "genad.modalities.pointcloud._modality",
    "modality": "genad.modalities.pointcloud._modality",
    "PointCloudRenderer": "genad.modalities.pointcloud._render",
    "PointCloudRendering": "genad.modalities.pointcloud._render",
    "PointCloudSample": "genad.modalities.pointcloud._sample",
})
