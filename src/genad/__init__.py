"""genad: generic anomaly detection and understanding.

>>> from genad import Detector
>>> report = Detector().detect("part.png", references=["good.png"])   # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from genad import errors
from genad._cache import CachedClient
from genad._client import Reply, VLMClient
from genad._conversation import Conversation, FollowUp
from genad._detector import Detector
from genad._expert import Expert, ExpertResult
from genad._feedback import Feedback, FeedbackStore
from genad._ladder import LadderPrompt, PromptBuilder, PromptContext
from genad._parse import parse_answer
from genad._registry import load_sample
from genad._rendering import Mapped, Renderer, Rendering, ViewRegion
from genad._report import AnomalyReport, Region, Usage
from genad.modalities.image._expert import ImageExpert
from genad.modalities.image._render import ImageRenderer
from genad.modalities.image._sample import ImageSample
from genad.modalities.pointcloud._expert import PointCloudExpert
from genad.modalities.pointcloud._render import PointCloudRenderer
from genad.modalities.pointcloud._sample import PointCloudSample
from genad.modalities.series._expert import SeriesExpert
from genad.modalities.series._render import SeriesRenderer
from genad.modalities.series._sample import SeriesSample
from genad.modalities.video._expert import VideoExpert
from genad.modalities.video._render import VideoRenderer
from genad.modalities.video._sample import VideoSample

if TYPE_CHECKING:
    from genad._openai import OpenAIClient

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``OpenAIClient`` is imported on first use: the openai SDK takes about a second to import."""
    if name == "OpenAIClient":
        from genad._openai import OpenAIClient

        return OpenAIClient
    raise AttributeError(f"module 'genad' has no attribute {name!r}")


__all__ = [
    "AnomalyReport",
    "CachedClient",
    "Conversation",
    "Detector",
    "Expert",
    "ExpertResult",
    "Feedback",
    "FeedbackStore",
    "FollowUp",
    "ImageExpert",
    "ImageRenderer",
    "ImageSample",
    "LadderPrompt",
    "Mapped",
    "OpenAIClient",
    "PointCloudExpert",
    "PointCloudRenderer",
    "PointCloudSample",
    "PromptBuilder",
    "PromptContext",
    "Region",
    "Renderer",
    "Rendering",
    "Reply",
    "SeriesExpert",
    "SeriesRenderer",
    "SeriesSample",
    "Usage",
    "VLMClient",
    "VideoExpert",
    "VideoRenderer",
    "VideoSample",
    "ViewRegion",
    "__version__",
    "errors",
    "load_sample",
    "parse_answer",
]
