"""genad: generic anomaly detection and understanding.

>>> from genad import Detector
>>> report = Detector().detect("part.png", references=["good.png"])   # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from genad import errors
from genad._modalities import load_sample
from genad.clients.base import Reply, VLMClient
from genad.clients.cache import CachedClient
from genad.detector import Detector
from genad.experts.base import Expert, ExpertResult
from genad.parse import parse_answer
from genad.prompts.ladder import LadderPrompt, PromptBuilder, PromptContext
from genad.render.base import Renderer, Rendering, ViewRegion
from genad.render.image import ImageRenderer
from genad.report import AnomalyReport, Region, Usage
from genad.samples.image import ImageSample

if TYPE_CHECKING:
    from genad.clients.openai import OpenAIClient

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``OpenAIClient`` is imported on first use: the openai SDK takes about a second to import."""
    if name == "OpenAIClient":
        from genad.clients.openai import OpenAIClient

        return OpenAIClient
    raise AttributeError(f"module 'genad' has no attribute {name!r}")


__all__ = [
    "AnomalyReport",
    "CachedClient",
    "Detector",
    "Expert",
    "ExpertResult",
    "ImageRenderer",
    "ImageSample",
    "LadderPrompt",
    "OpenAIClient",
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
    "parse_answer",
]
