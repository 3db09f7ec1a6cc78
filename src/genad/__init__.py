"""genad: generic anomaly detection and understanding.

>>> from genad import Detector
>>> report = Detector().detect("part.png", references=["good.png"])   # doctest: +SKIP
"""

from typing import TYPE_CHECKING, Any

from genad import errors
from genad._modalities import load_sample
from genad.clients.base import Reply, VLMClient
from genad.clients.cache import CachedClient
from genad.conversation import Conversation, FollowUp
from genad.detector import Detector
from genad.experts.base import Expert, ExpertResult
from genad.experts.image import ImageExpert
from genad.experts.pointcloud import PointCloudExpert
from genad.experts.series import SeriesExpert
from genad.experts.video import VideoExpert
from genad.feedback import Feedback, FeedbackStore
from genad.parse import parse_answer
from genad.prompts.ladder import LadderPrompt, PromptBuilder, PromptContext
from genad.render.base import Mapped, Renderer, Rendering, ViewRegion
from genad.render.image import ImageRenderer
from genad.render.pointcloud import PointCloudRenderer
from genad.render.series import SeriesRenderer
from genad.render.video import VideoRenderer
from genad.report import AnomalyReport, Region, Usage
from genad.samples.image import ImageSample
from genad.samples.pointcloud import PointCloudSample
from genad.samples.series import SeriesSample
from genad.samples.video import VideoSample

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
