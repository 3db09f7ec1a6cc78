from __future__ import annotations

import io
import pickle
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genad import AnomalyReport, Detector, ExpertResult, Region
from genad.errors import BatchError, ConfigurationError, CorruptInputError
from genad.modalities.image import ImageSample
from genad.testing import ScriptedClient

ANSWER = {
    "is_anomalous": True, "score": 0.9, "anomaly_type": "contamination",
    "regions": [{"image": 2, "box": [10, 20, 30, 40], "interval": None, "cells": None, "mark": None,
                 "label": "cord", "confidence": 0.8}],
    "rejected_marks": [], "explanation": "A cord lies inside the bottle.",
}


class BrightnessExpert:
    """Scores an image by its mean brightness; a box around the brightest pixel is the candidate."""

    def score(self, sample: ImageSample, references: Sequence[ImageSample] = ()) -> ExpertResult:
        gray = sample.pixels.mean(axis=2) / 255.0
        y, x = np.unravel_index(int(np.argmax(gray)), gray.shape)
        box = (max(0.0, x - 5.0), max(0.0, y - 5.0),
               min(float(sample.width), x + 5.0), min(float(sample.height), y + 5.0))
        score = float(gray.mean())
        return ExpertResult(score=score, raw_score=score, anomaly_map=gray,
                            regions=(Region(box=box, confidence=score, source="expert"),))

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, value in (("good", 10), ("bad", 240), ("other", 30)):
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.full((200, 100, 3), value, np.uint8)).save(path)
        out[name] = path
    return out


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GENAD_MODEL", "GENAD_BASE_URL", "GENAD_API_KEY", "OPENAI_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def test_vlm_mode_sends_reference_then_query_and_maps_boxes_back(images: dict[str, Path]) -> None:
    client = ScriptedClient([ANSWER], model="m")
    detector = Detector(client=client, mode="vlm")
    report = detector.detect(images["bad"], category="bottle", references=[images["good"]])
    assert len(client.calls) == 1
    (message,) = client.calls[0]
    assert len(message.images) == 2
    assert "The first image given about the bottle is normal." in message.text
    assert report.is_anomalous is True
    assert report.score == pytest.approx(0.9)
    assert report.anomaly_type == "contamination"
    assert report.explanation == ANSWER["explanation"]
    assert report.model == "m" and report.mode == "vlm" and report.usage.requests == 1
    assert report.regions[0].box == (10.0, 20.0, 30.0, 40.0)  # 100x200 image is not resized
    assert report.regions[0].label == "cord"
    assert report.prompt_strategy == "ladder:auto"


def test_region_on_the_reference_image_is_dropped_with_a_note(images: dict[str, Path]) -> None:
    answer = {**ANSWER, "regions": [{**ANSWER["regions"][0], "image": 1}]}  # type: ignore[index]
    report = Detector(client=ScriptedClient([answer]), mode="vlm").detect(images["bad"], references=[images["good"]])
    assert report.regions == ()
    assert any("normal reference" in n for n in report.notes)


def test_malformed_reply_is_re_asked_once(images: dict[str, Path]) -> None:
    client = ScriptedClient(['{"is_anomalous": "perhaps", "score": 7}', ANSWER])
    report = Detector(client=client, mode="vlm").detect(images["bad"])
    assert report.ok and report.is_anomalous
    assert report.usage.requests == 2
    assert len(client.calls[1]) == 3  # the prompt, the bad reply, the correction
    assert "does not follow the contract" in client.calls[1][2].text


def test_malformed_twice_gives_a_parse_error_report(images: dict[str, Path]) -> None:
    client = ScriptedClient(['{"score": 7}', '{"score": 8}'])
    report = Detector(client=client, mode="vlm").detect(images["bad"])
    assert report.status == "error" and report.error_type == "ParseError"
    assert report.usage.requests == 2
    assert report.raw is not None and '{"score": 8}' in report.raw


def test_local_mode_uses_the_expert_and_says_no_vlm(images: dict[str, Path]) -> None:
    report = Detector(mode="local", experts={"image": BrightnessExpert()}).detect(images["bad"])
    assert report.model is None and report.mode == "local"
    assert report.score == pytest.approx(240 / 255)
    assert report.is_anomalous
    assert "no VLM was used" in report.notes
    assert report.anomaly_map is not None and report.anomaly_map.shape == (200, 100)


def test_auto_is_local_without_endpoint_and_hybrid_with_a_client() -> None:
    assert Detector().resolved_mode() == "local"
    assert Detector(client=ScriptedClient([])).resolved_mode() == "hybrid"


def test_vlm_mode_without_endpoint_names_the_settings(images: dict[str, Path]) -> None:
    with pytest.raises(ConfigurationError, match="GENAD_MODEL"):
        Detector(mode="vlm").detect(images["bad"])


def test_bad_mode_is_rejected() -> None:
    with pytest.raises(ConfigurationError):
        Detector(mode="fast")  # type: ignore[arg-type]


def test_detect_many_keeps_order_and_isolates_failures(images: dict[str, Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    detector = Detector(mode="local", experts={"image": BrightnessExpert()})
    reports = detector.detect_many([images["bad"], corrupt, images["good"]], progress=False)
    assert [r.status for r in reports] == ["ok", "error", "ok"]
    assert reports[0].score > reports[2].score  # type: ignore[operator]
    assert reports[1].error_type == "CorruptInputError"
    assert reports[1].source == str(corrupt)


def test_detect_many_raise_keeps_finished_reports(images: dict[str, Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    client = ScriptedClient(lambda messages: ANSWER)
    detector = Detector(client=client, mode="vlm")
    with pytest.raises(BatchError) as info:
        detector.detect_many([images["bad"], corrupt], errors="raise", max_in_flight=1, progress=False)
    assert isinstance(info.value.__cause__, CorruptInputError)
    assert info.value.reports[0] is not None and info.value.reports[0].ok


def test_detect_many_never_shuts_down_the_callers_executor(images: dict[str, Path]) -> None:
    detector = Detector(client=ScriptedClient(lambda messages: ANSWER), mode="vlm")
    with ThreadPoolExecutor(2) as pool:
        reports = detector.detect_many([images["bad"]] * 5, executor=pool, max_in_flight=2, progress=False)
        assert all(r.ok for r in reports)
        assert pool.submit(lambda: 1).result() == 1


def test_detector_pickles_with_its_plugins() -> None:
    detector = Detector(client=ScriptedClient([ANSWER]), mode="vlm", experts={"image": BrightnessExpert()})
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.mode == "vlm" and clone.client.model == "scripted"
    report = clone.detect(np.zeros((20, 20, 3), np.uint8))
    assert report.ok


def _scores(reports: list[Any]) -> list[float]:
    return [r.score for r in reports]


def test_arrays_and_typed_samples_are_accepted() -> None:
    detector = Detector(mode="local", experts={"image": BrightnessExpert()})
    a = detector.detect(np.full((8, 8, 3), 255, np.uint8))
    b = detector.detect(ImageSample.from_array(np.zeros((8, 8), np.uint8)))
    assert _scores([a, b]) == [1.0, 0.0]


class CountingExpert(BrightnessExpert):
    """Counts its calls: one ``score_many`` over a zero-shot batch, ``score`` otherwise."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def score(self, sample: ImageSample, references: Sequence[ImageSample] = ()) -> ExpertResult:
        self.calls.append("score")
        return super().score(sample, references)

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        self.calls.append(f"score_many({len(samples)})")
        return [BrightnessExpert.score(self, s, references) for s in samples]


def test_hybrid_without_an_endpoint_fails_before_the_expert_runs(images: dict[str, Path]) -> None:
    expert = CountingExpert()
    detector = Detector(mode="hybrid", experts={"image": expert})
    with pytest.raises(ConfigurationError, match="no VLM endpoint"):
        detector.detect(images["bad"])
    with pytest.raises(ConfigurationError, match="no VLM endpoint"):
        detector.detect_many([images["bad"], images["good"]])
    assert expert.calls == []


def test_unknown_modality_keys_are_rejected(images: dict[str, Path]) -> None:
    detector = Detector(mode="local", experts={"imgae": BrightnessExpert()})
    with pytest.raises(ConfigurationError, match=r"experts= names unknown modalities \['imgae'\]"):
        detector.detect(images["bad"])


def _detect_many(detector: Detector, paths: list[Path], executor: str | None, **kw: Any) -> list[AnomalyReport]:
    """``detect_many`` without an executor (``None``) or on a pool of two threads (``"threads"``)."""
    if executor is None:
        return detector.detect_many(paths, progress=False, **kw)
    with ThreadPoolExecutor(2) as pool:
        return detector.detect_many(paths, executor=pool, progress=False, **kw)


@pytest.mark.parametrize("executor", [None, "threads"])
def test_a_zero_shot_batch_is_scored_as_a_batch_with_or_without_an_executor(
        images: dict[str, Path], executor: str | None) -> None:
    expert = CountingExpert()
    detector = Detector(mode="local", experts={"image": expert})
    paths = [images["bad"], images["good"], images["other"]]
    reports = _detect_many(detector, paths, executor)
    assert expert.calls == ["score_many(3)"]
    assert [r.source for r in reports] == [str(p) for p in paths]
    expert.calls.clear()
    detector.detect_many(paths, references=[images["good"]], progress=False)
    assert expert.calls == ["score"] * 3


class JointExpert(CountingExpert):
    """Says it scores batches with at most one reference jointly (``ImageExpert(batch_context=True)`` does with any
    number), so that a batch with two references shows the fall-back to scoring each sample alone."""

    def joint_scoring(self, references: int) -> bool:
        return references <= 1


@pytest.mark.parametrize("executor", [None, "threads"])
def test_a_batch_with_one_reference_is_scored_whole_when_the_expert_scores_it_jointly(
        images: dict[str, Path], executor: str | None) -> None:
    expert = JointExpert()
    detector = Detector(mode="local", experts={"image": expert})
    paths = [images["bad"], images["good"], images["other"]]
    reports = _detect_many(detector, paths, executor, references=[images["good"]])
    assert expert.calls == ["score_many(3)"]
    assert [r.source for r in reports] == [str(p) for p in paths]
    assert _scores(reports) == _scores([detector.detect(p, references=[images["good"]]) for p in paths])
    expert.calls.clear()
    detector.detect_many(paths, references=[images["good"], images["other"]], progress=False)
    assert expert.calls == ["score"] * 3
    expert.calls.clear()
    bad_reference = detector.detect_many(paths, references=["missing.png"], progress=False)
    assert expert.calls == [] and all(r.status == "error" for r in bad_reference)


def test_hybrid_shows_the_vlm_the_reference_of_a_batch_scored_jointly(images: dict[str, Path]) -> None:
    expert = JointExpert()
    client = ScriptedClient([ANSWER] * 3, model="m")
    detector = Detector(client=client, mode="hybrid", experts={"image": expert})
    paths = [images["bad"], images["good"], images["other"]]
    reports = detector.detect_many(paths, references=[images["good"]], max_in_flight=1, progress=False)
    assert expert.calls == ["score_many(3)"]
    assert len(client.calls) == 3 and all(r.ok for r in reports)
    for (message,) in client.calls:  # the reference, the sample and the copy with the expert's marks
        assert len(message.images) == 3
        reference = np.asarray(Image.open(io.BytesIO(message.images[0].data)).convert("RGB"))
        assert (reference == 10).all()  # the "good" image, uniformly 10


def test_an_inapplicable_region_key_is_noted_not_re_asked(images: dict[str, Path]) -> None:
    answer = {**ANSWER, "regions": [
        {"image": 2, "box": [10, 20, 30, 40], "interval": [3.0, 9.0], "label": "cord", "confidence": 0.8},
        {"image": 2, "interval": [4.0], "label": "smudge", "confidence": 0.5}]}
    client = ScriptedClient([answer])
    report = Detector(client=client, mode="vlm").detect(images["bad"], references=[images["good"]])
    assert len(client.calls) == 1 and report.ok and report.is_anomalous
    assert report.regions[0].box == (10.0, 20.0, 30.0, 40.0)
    assert any("ignored interval of a region on image 2: image regions are given as box" in n for n in report.notes)
    assert any("ignored interval [4.0] (expected 2 numbers)" in n for n in report.notes)
