"""Video modality: the sample, renderer, expert and modality object.

>>> from genad.modalities.video import VideoExpert, VideoSample
"""

from typing import TYPE_CHECKING

from genad._lazy import lazy_exports

if TYPE_CHECKING:
    from genad.modalities.video._expert import VideoExpert
    from genad.modalities.video._modality import VideoModality, modality
    from genad.modalities.video._render import VideoRenderer, VideoRendering
    from genad.modalities.video._sample import VideoSample

__all__ = ["VideoExpert", "VideoModality", "VideoRenderer", "VideoRendering", "VideoSample", "modality"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "VideoExpert": "genad.modalities.video._expert",
    "VideoModality": "genad.modalities.video._modality",
    "modality": "genad.modalities.video._modality",
    "VideoRenderer": "genad.modalities.video._render",
    "VideoRendering": "genad.modalities.video._render",
    "VideoSample": "genad.modalities.video._sample",
})
