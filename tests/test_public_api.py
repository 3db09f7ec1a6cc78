"""The public names are a promise: this test pins them, so adding or removing one is a deliberate change."""

from __future__ import annotations

import subprocess
import sys

import genad

PUBLIC = {
    "AnomalyReport", "CachedClient", "Conversation", "Detector", "Expert", "ExpertResult", "Feedback",
    "FeedbackStore", "FollowUp", "ImageExpert", "ImageRenderer", "ImageSample", "LadderPrompt", "Mapped",
    "OpenAIClient",
    "PointCloudExpert", "PointCloudRenderer", "PointCloudSample", "PromptBuilder", "PromptContext", "Region",
    "Renderer", "Rendering", "Reply", "SeriesExpert", "SeriesRenderer", "SeriesSample", "Usage", "VLMClient",
    "VideoExpert", "VideoRenderer", "VideoSample", "ViewRegion", "__version__", "errors", "load_sample",
    "parse_answer",
}


def test_all_is_pinned() -> None:
    assert set(genad.__all__) == PUBLIC
    assert sorted(genad.__all__) == list(genad.__all__)


def test_every_public_name_resolves() -> None:
    for name in genad.__all__:
        assert getattr(genad, name) is not None, name


def test_importing_genad_does_not_import_heavy_modules() -> None:
    heavy = ("openai", "matplotlib", "trimesh", "onnxruntime", "torch")
    code = f"import sys, genad; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
