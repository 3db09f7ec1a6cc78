"""Every default renderer and client passes genad.testing's conformance checks, and the checks catch breakage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from genad import ExpertResult, LadderPrompt, Message, OpenAIClient, PromptContext, Rendering, get_modality
from genad.errors import ConfigurationError
from genad.modalities.image import ImageRenderer, ImageSample
from genad.modalities.pointcloud import PointCloudRenderer, PointCloudSample
from genad.modalities.series import SeriesRenderer, SeriesSample
from genad.modalities.video import VideoRenderer, VideoSample
from genad.testing import (
    ScriptedClient,
    check_client,
    check_expert,
    check_modality,
    check_prompt_builder,
    check_renderer,
)
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
        check_renderer(NoMapRenderer(), ImageSample.from_array(np.zeros((8, 8, 3), np.uint8)))


def test_openai_client_conforms_and_keeps_the_key_secret(loopback_vlm: LoopbackVLM) -> None:
    secret = "sk-test-conformance-123456"
    reply = check_client(OpenAIClient(model="m", base_url=loopback_vlm.url, api_key=secret), secret=secret)
    assert reply.usage.requests == 1
    assert not any(secret in str(r) for r in loopback_vlm.requests)


def test_scripted_client_conforms() -> None:
    check_client(ScriptedClient(["{}"]))


# ---------------------------------------------------------------- experts, modalities, prompt builders


def _image_pair() -> tuple[ImageSample, ImageSample, list[ImageSample]]:
    from genad.synthetic import make_image

    refs = [ImageSample.from_array(make_image("weave", seed=s).image) for s in (1, 2)]
    return (ImageSample.from_array(make_image("weave", seed=3).image),
            ImageSample.from_array(make_image("weave", "hole", seed=3).image), refs)


def _cloud(bump: bool, seed: int) -> PointCloudSample:
    points = np.random.default_rng(seed).normal(size=(3000, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    if bump:
        near = points[:, 2] > 0.9
        points[near] *= 1.25
    return PointCloudSample.from_array(points)


def _clip(fast: bool, seed: int) -> VideoSample:
    rng = np.random.default_rng(seed)
    ground = (rng.random((96, 128)) * 60 + 90).astype(np.uint8)
    frames = np.repeat(ground[None], 40, axis=0)
    for t in range(40):
        frames[t, 20:34, 10 + t:18 + t] = 40  # a walker at 1 px/frame
        if fast and 15 <= t <= 30:
            frames[t, 60:72, 4 * (t - 15):4 * (t - 15) + 10] = 230  # a cart at 4 px/frame
    return VideoSample.from_array(frames, fps=10.0)


def _wave(spike: bool, seed: int) -> SeriesSample:
    y = np.sin(np.arange(600) / 9.0) + np.random.default_rng(seed).normal(scale=0.05, size=600)
    if spike:
        y[400:404] += 4.0
    return SeriesSample.from_array(y)


def _expert_cases() -> list[tuple[str, Any, Any, list[Any], tuple[int, ...]]]:
    normal, anomalous, refs = _image_pair()
    return [
        ("image", normal, anomalous, refs, (normal.height, normal.width)),
        ("pointcloud", _cloud(False, 1), _cloud(True, 1), [_cloud(False, 2)], (3000,)),
        ("video", _clip(False, 1), _clip(True, 1), [_clip(False, 2)], (40,)),
        ("series", _wave(False, 1), _wave(True, 1), [_wave(False, 2)], (600,)),
    ]


@pytest.mark.parametrize("case", range(4), ids=["image", "pointcloud", "video", "series"])
def test_default_experts_conform(case: int) -> None:
    name, normal, anomalous, refs, shape = _expert_cases()[case]
    expert = get_modality(name).default_expert()
    check_expert(expert, normal, anomalous, refs, map_shape=shape)


@pytest.mark.parametrize(("name", "sample"), [
    ("image", np.random.default_rng(0).integers(0, 256, (64, 80, 3), dtype=np.uint8)),
    ("pointcloud", np.random.default_rng(0).normal(size=(500, 3))),
    ("video", np.random.default_rng(0).integers(0, 256, (12, 48, 64, 3), dtype=np.uint8)),
    ("series", np.sin(np.arange(300) / 7.0)),
])
def test_builtin_modalities_conform(name: str, sample: object) -> None:
    loaded = check_modality(get_modality(name), sample)
    assert loaded.modality == name


def test_ladder_prompt_conforms() -> None:
    messages = check_prompt_builder(LadderPrompt())
    assert "Answer with one JSON object" in messages[-1].text


class ChattyPrompt:
    """Writes its own contract and forgets the reference image: both break the builder's contract."""

    name = "chatty"

    def build(self, context: PromptContext) -> list[Message]:
        _, query = context.parts[-1]
        return [Message("user", (query, "Is it broken? Answer with one JSON object, please."))]


def test_a_builder_that_writes_the_contract_fails_the_check() -> None:
    with pytest.raises(AssertionError, match="must not write the output contract"):
        check_prompt_builder(ChattyPrompt())


class ForgetfulPrompt(ChattyPrompt):
    def build(self, context: PromptContext) -> list[Message]:
        _, query = context.parts[-1]
        return [Message("user", (query, "Is it broken?"))]


def test_a_builder_that_drops_an_image_fails_before_any_request() -> None:
    with pytest.raises(ConfigurationError, match="must place the 2 images"):
        check_prompt_builder(ForgetfulPrompt())


class LoadsInInit:
    """Does work in its constructor: fitted state before scoring, and a parameter it does not keep."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.limit = threshold
        self.bank_ = np.zeros(3)

    def score(self, sample: object, references: object = ()) -> ExpertResult:
        return ExpertResult(0.1, 0.1)

    def score_many(self, samples: list[object], references: object = ()) -> list[ExpertResult]:
        return [self.score(s) for s in samples]


def test_an_expert_that_works_in_its_constructor_fails_the_check() -> None:
    with pytest.raises(AssertionError, match="'threshold' is not stored"):
        check_expert(LoadsInInit(), _wave(False, 0), _wave(True, 0))  # type: ignore[arg-type]


class Constant:
    def score(self, sample: object, references: object = ()) -> ExpertResult:
        return ExpertResult(0.3, 0.3)

    def score_many(self, samples: list[object], references: object = ()) -> list[ExpertResult]:
        return [self.score(s) for s in samples]


def test_an_expert_blind_to_the_defect_fails_the_check() -> None:
    with pytest.raises(AssertionError, match="not above the normal sample"):
        check_expert(Constant(), _wave(False, 0), _wave(True, 0))  # type: ignore[arg-type]
