"""Time-series modality: the sample, renderer, expert and modality object.

>>> from genad.modalities.series import SeriesExpert, SeriesSample
"""

from typing import TYPE_CHECKING

from genad._lazy import lazy_exports

if TYPE_CHECKING:
    from genad.modalities.series._expert import SeriesExpert
    from genad.modalities.series._modality import SeriesModality, modality
    from genad.modalities.series._render import SeriesRenderer, SeriesRendering
    from genad.modalities.series._sample import SeriesSample

__all__ = ["SeriesExpert", "SeriesModality", "SeriesRenderer", "SeriesRendering", "SeriesSample", "modality"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "SeriesExpert": "genad.modalities.series._expert",
    "SeriesModality": "genad.modalities.series._modality",
    "modality": "genad.modalities.series._modality",
    "SeriesRenderer": "genad.modalities.series._render",
    "SeriesRendering": "genad.modalities.series._render",
    "SeriesSample": "genad.modalities.series._sample",
})
