"""Every default renderer and client passes genad.testing's conformance checks, and the checks catch breakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genad import (
    ImageRenderer,
    ImageSample,
    OpenAIClient,
    PointCloudRenderer,
    PointCloudSample,
    Rendering,
    SeriesRenderer,
    SeriesSample,
    VideoRenderer,
    VideoSample,
)
from genad.testing import ScriptedClient, check_client, check_renderer
from loopback import LoopbackVLM

RNG = np.random.default_rng(0)


def _sphere() -> PointCloudSample:
    points = RNG.normal(size=(2000, 3))
    return PointCloudSample.from_array(points / np.linalg.norm(points, axis=1, keepdims=True))


@pytest.mark.parametrize(("renderer", "sample"), [
    (ImageRenderer(), ImageSample.from_array(RNG.integers(0, 256, (120, 90, 3), dtype=np.uint8))),
    (PointCloudRenderer(), _sphere()),
    (VideoRenderer(), VideoSample.from_array(RNG.integers(0, 256, (30, 48, 64, 3), dtype=np.uint8))),
    (SeriesRenderer(), SeriesSample.from_array(pd.Series(np.sin(np.arange(500) / 9.0)))),
], ids=["image", "pointcloud", "video", "series"])
def test_default_renderers_conform(renderer: object, sample: object) -> None:
    rendering = check_renderer(renderer, sample)  # type: ignore[arg-type]
    assert rendering.images


class NoMapRenderer:
    def render(self, sample: ImageSample) -> Rendering:
        return Rendering(images=[sample.pixels])


def test_a_renderer_without_the_map_back_fails_the_check() -> None:
    with pytest.raises(AssertionError, match="map regions both ways"):
        check_renderer(NoMapRenderer(), ImageSample.from_array(np.zeros((8, 8, 3), np.uint8)))  # type: ignore[arg-type]


def test_openai_client_conforms_and_keeps_the_key_secret(loopback_vlm: LoopbackVLM) -> None:
    secret = "sk-test-conformance-123456"
    reply = check_client(OpenAIClient(model="m", base_url=loopback_vlm.url, api_key=secret), secret=secret)
    assert reply.usage.requests == 1
    assert not any(secret in str(r) for r in loopback_vlm.requests)


def test_scripted_client_conforms() -> None:
    check_client(ScriptedClient(["{}"]))
