"""Images (industrial, logical, medical): the sample, renderer, expert and modality object.

>>> from genad.modalities.image import ImageExpert, ImageSample
"""

from typing import TYPE_CHECKING

from genad._lazy import lazy_exports

if TYPE_CHECKING:
    from genad.modalities.image._expert import ImageExpert
    from genad.modalities.image._modality import ImageModality, modality
    from genad.modalities.image._render import ImageRenderer, ImageRendering
    from genad.modalities.image._sample import ImageSample

__all__ = ["ImageExpert", "ImageModality", "ImageRenderer", "ImageRendering", "ImageSample", "modality"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "ImageExpert": "genad.modalities.image._expert",
    "ImageModality": "genad.modalities.image._modality",
    "modality": "genad.modalities.image._modality",
    "ImageRenderer": "genad.modalities.image._render",
    "ImageRendering": "genad.modalities.image._render",
    "ImageSample": "genad.modalities.image._sample",
})
