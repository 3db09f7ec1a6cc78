"""genad: generic anomaly detection and understanding.

>>> from genad import Detector
>>> report = Detector().detect("part.png", references=["good.png"])   # doctest: +SKIP
"""

from genad import errors
from genad._modalities import load_sample
from genad.clients.base import Reply, VLMClient
from genad.experts.base import Expert, ExpertResult
from genad.prompts.ladder import LadderPrompt, PromptBuilder, PromptContext
from genad.render.base import Renderer, Rendering, ViewRegion
from genad.render.image import ImageRenderer
from genad.report import AnomalyReport, Region, Usage
from genad.samples.image import ImageSample

__version__ = "0.1.0"

__all__ = [
    "AnomalyReport",
    "Expert",
    "ExpertResult",
    "ImageRenderer",
    "ImageSample",
    "LadderPrompt",
    "PromptBuilder",
    "PromptContext",
    "Region",
    "Renderer",
    "Rendering",
    "Reply",
    "Usage",
    "VLMClient",
    "ViewRegion",
    "__version__",
    "errors",
    "load_sample",
]
