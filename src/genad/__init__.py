"""genad: generic anomaly detection and understanding.

>>> from genad import Detector
>>> report = Detector().detect("part.png", references=["good.png"])   # doctest: +SKIP

This module is the one list of public names; each is imported on first use, so ``import genad`` is cheap.
Modality-specific classes live in their modality's package (``genad.modalities.image`` and so on).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from genad import _compat, errors
from genad._lazy import lazy_exports

if TYPE_CHECKING:
    from genad._cache import CachedClient
    from genad._client import Reply, VLMClient
    from genad._conversation import Conversation, FollowUp
    from genad._detector import Detector
    from genad._expert import Expert, ExpertResult
    from genad._feedback import Feedback, FeedbackStore
    from genad._ladder import LadderPrompt, PromptBuilder, PromptContext
    from genad._messages import ImagePart, Message
    from genad._modality import Modality, ModalityBase
    from genad._openai import OpenAIClient
    from genad._parse import parse_answer
    from genad._registry import get_modality, load_sample, modality_names, modality_of, register_modality
    from genad._rendering import Mapped, Renderer, Rendering, ViewRegion
    from genad._report import AnomalyReport, Region, Usage
    from genad._sample import Sample
    from genad._task import Task

__version__ = "0.2.0"

_EXPORTS = {
    "AnomalyReport": "genad._report", "Region": "genad._report", "Usage": "genad._report",
    "Detector": "genad._detector", "Task": "genad._task",
    "Conversation": "genad._conversation", "FollowUp": "genad._conversation",
    "Feedback": "genad._feedback", "FeedbackStore": "genad._feedback",
    "Sample": "genad._sample", "Modality": "genad._modality", "ModalityBase": "genad._modality",
    "get_modality": "genad._registry", "load_sample": "genad._registry", "modality_names": "genad._registry",
    "modality_of": "genad._registry",
    "register_modality": "genad._registry",
    "Renderer": "genad._rendering", "Rendering": "genad._rendering", "ViewRegion": "genad._rendering",
    "Mapped": "genad._rendering",
    "Expert": "genad._expert", "ExpertResult": "genad._expert",
    "LadderPrompt": "genad._ladder", "PromptBuilder": "genad._ladder", "PromptContext": "genad._ladder",
    "Message": "genad._messages", "ImagePart": "genad._messages",
    "VLMClient": "genad._client", "Reply": "genad._client", "OpenAIClient": "genad._openai",
    "CachedClient": "genad._cache", "parse_answer": "genad._parse",
}
_MOVED = {f"{kind}{part}": f"genad.modalities.{name}"
          for kind, name in (("Image", "image"), ("PointCloud", "pointcloud"), ("Video", "video"), ("Series", "series"))
          for part in ("Sample", "Renderer", "Expert")}
"""Names that were exported here before 0.2 and now live in their modality's package."""

_lazy_getattr, _lazy_dir = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(f"genad.{name} is deprecated; import it from {_MOVED[name]}", DeprecationWarning, stacklevel=2)
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return _lazy_dir()


_compat.install()

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
    "ImagePart",
    "LadderPrompt",
    "Mapped",
    "Message",
    "Modality",
    "ModalityBase",
    "OpenAIClient",
    "PromptBuilder",
    "PromptContext",
    "Region",
    "Renderer",
    "Rendering",
    "Reply",
    "Sample",
    "Task",
    "Usage",
    "VLMClient",
    "ViewRegion",
    "__version__",
    "errors",
    "get_modality",
    "load_sample",
    "modality_names",
    "modality_of",
    "parse_answer",
    "register_modality",
]
