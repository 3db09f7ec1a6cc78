"""Self-verification over the real SDK and a loopback server: the second turn, dropped claims, usage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genad import AnomalyReport, Detector, ExpertResult, OpenAIClient, Region
from genad._cli import main
from genad._verify import VERIFY_SCHEMA
from genad.testing import ScriptedClient
from loopback import LoopbackVLM, answer_json, chat_completion


def _region(box: list[float], label: str, confidence: float = 0.7, mark: int | None = None) -> dict[str, object]:
    return {"image": 2, "box": box, "interval": None, "cells": None, "mark": mark, "label": label,
            "confidence": confidence}


FIRST = answer_json(True, 0.9, "scratch", [_region([10, 10, 50, 40], "scratch"), _region([100, 60, 140, 90], "glare")],
                    "A scratch and a bright spot.")
CHECK = json.dumps({
    "claims": [{"claim": 1, "supported": True, "reason": "the reference has no scratch there"},
               {"claim": 2, "supported": False, "reason": "the reference shows the same glare"}],
    "is_anomalous": True, "score": 0.8, "anomaly_type": "scratch", "explanation": "Only the scratch is a defect.",
})


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    good, bad = tmp_path / "good.png", tmp_path / "part.png"
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(good)
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(bad)
    return bad, good


def _detector(server: LoopbackVLM, **kw: Any) -> Detector:
    return Detector(client=OpenAIClient(model="m", base_url=server.url, api_key="k"), mode="vlm", verify=True,
                    **kw)


def _images(message: dict[str, object]) -> list[str]:
    content = message["content"]
    if not isinstance(content, list):
        return []
    return [p["image_url"]["url"] for p in content if p["type"] == "image_url"]


def test_second_turn_carries_the_first_and_drops_the_unsupported_claim(
    loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]
) -> None:
    loopback_vlm.script((200, chat_completion(FIRST, prompt_tokens=1000, completion_tokens=80)),
                        (200, chat_completion(CHECK, prompt_tokens=1200, completion_tokens=60)))
    bad, good = pair
    report = _detector(loopback_vlm).detect(bad, references=[good], category="bottle", criteria="Glare is normal.")

    first, second = loopback_vlm.requests
    assert second["messages"][: len(first["messages"])] == first["messages"]  # same text and the same images
    assert len(_images(second["messages"][0])) == 2
    assistant, check = second["messages"][len(first["messages"]):]
    assert assistant == {"role": "assistant", "content": FIRST}
    assert "1. image 2, box [10, 10, 50, 40] 'scratch'" in check["content"]
    assert "2. image 2, box [100, 60, 140, 90] 'glare'" in check["content"]
    assert "normal reference image (image 1)" in check["content"] and "Glare is normal." in check["content"]
    assert second["response_format"]["json_schema"]["schema"] == VERIFY_SCHEMA

    assert report.is_anomalous is True and report.score == pytest.approx(0.8)
    (kept,) = report.regions
    assert kept.label == "scratch" and kept.box == (10.0, 10.0, 50.0, 40.0)
    assert report.explanation == "Only the scratch is a defect."
    assert any("dropped claim 2 (glare): the reference shows the same glare" in n for n in report.notes)
    assert report.usage.prompt_tokens == 2200 and report.usage.completion_tokens == 140
    assert report.usage.requests == 2
    assert report.raw == f"{FIRST}\n---\n{CHECK}"
    assert report.prompt_strategy == "ladder:auto+verify"
    assert AnomalyReport.from_json(report.to_json()).to_dict() == report.to_dict()


def test_a_normal_verdict_without_regions_costs_no_second_call(loopback_vlm: LoopbackVLM,
                                                              pair: tuple[Path, Path]) -> None:
    bad, good = pair
    report = _detector(loopback_vlm).detect(bad, references=[good])
    assert len(loopback_vlm.requests) == 1
    assert report.is_anomalous is False and report.usage.requests == 1 and report.prompt_strategy == "ladder:auto"


def test_verification_can_clear_the_verdict(pair: tuple[Path, Path]) -> None:
    check = {"claims": [{"claim": 1, "supported": False, "reason": "lighting"}], "is_anomalous": False,
             "score": 0.2, "anomaly_type": None, "explanation": "Nothing differs from the reference."}
    first = json.loads(FIRST)
    client = ScriptedClient([first, check])
    bad, good = pair
    report = Detector(client=client, mode="vlm", verify=True).detect(bad, references=[good])
    assert report.is_anomalous is False and report.regions == () and report.anomaly_type is None
    assert report.score == pytest.approx(0.2)
    assert sum("verification dropped claim" in n for n in report.notes) == 2
    sent = sum(len(m.text) // 4 + 85 * len(m.images) for call in client.calls for m in call)
    assert report.usage.requests == 2 and report.usage.prompt_tokens == sent


def test_an_unreadable_verification_keeps_the_first_verdict_and_counts_every_call(pair: tuple[Path, Path]) -> None:
    client = ScriptedClient([json.loads(FIRST), '{"claims": "no", ', "still not json {\"x\": "])
    bad, good = pair
    report = Detector(client=client, mode="vlm", verify=True).detect(bad, references=[good])
    assert len(client.calls) == 3
    assert report.is_anomalous is True and len(report.regions) == 2
    assert any("could not be read" in n for n in report.notes)
    assert report.usage.requests == 3
    assert "Answer again with only the JSON object." in client.calls[2][-1].text


class CornerExpert:
    def score(self, sample: object, references: object = ()) -> ExpertResult:
        return ExpertResult(score=0.9, raw_score=3.0, regions=(
            Region(box=(0, 0, 40, 40), confidence=0.9, source="expert"),
            Region(box=(200, 150, 260, 190), confidence=0.7, source="expert"),
        ))

    def score_many(self, samples: Sequence[object], references: object = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]


def test_hybrid_confirmed_marks_are_checked_too(pair: tuple[Path, Path]) -> None:
    first = json.loads(answer_json(True, 0.85, "stain", [_region([0, 0, 1, 1], "stain", 0.8, mark=1),
                                                          _region([0, 0, 1, 1], "dust", 0.6, mark=2)], "two"))
    check = {"claims": [{"claim": 1, "supported": True, "reason": ""}, {"claim": 2, "supported": False,
                                                                           "reason": "dust is on the lens"}],
             "is_anomalous": True, "score": 0.75, "anomaly_type": "stain", "explanation": "A stain."}
    client = ScriptedClient([first, check])
    bad, good = pair
    report = Detector(client=client, mode="hybrid", verify=True, experts={"image": CornerExpert()}).detect(
        bad, references=[good])
    (kept,) = report.regions
    assert kept.source == "hybrid" and kept.box == (0, 0, 40, 40)
    assert report.expert_score == pytest.approx(0.9) and report.score == pytest.approx(0.75)
    text = client.calls[1][-1].text
    assert "1. image 2, box [0, 0, 40, 40] 'stain'" in text and "2. image 2, box [200, 150, 260, 190] 'dust'" in text


def test_cli_detect_verify(loopback_vlm: LoopbackVLM, pair: tuple[Path, Path],
                           capsys: pytest.CaptureFixture[str]) -> None:
    loopback_vlm.script((200, chat_completion(FIRST)), (200, chat_completion(CHECK)))
    bad, good = pair
    code = main(["detect", str(bad), "-r", str(good), "--mode", "vlm", "--verify", "--json", "--model", "m",
                 "--base-url", loopback_vlm.url])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(loopback_vlm.requests) == 2
    assert [r["label"] for r in printed["regions"]] == ["scratch"]
    assert printed["usage"]["requests"] == 2


def test_detect_many_verifies_each_sample(pair: tuple[Path, Path]) -> None:
    def respond(messages: list[Any]) -> dict[str, object]:
        last = messages[-1]
        assert hasattr(last, "text")
        return json.loads(CHECK) if last.text.startswith("Check your answer") else json.loads(FIRST)

    bad, good = pair
    client = ScriptedClient(respond)
    reports = Detector(client=client, mode="vlm", verify=True).detect_many([bad, bad, bad], references=[good],
                                                                          progress=False)
    assert len(client.calls) == 6
    assert all([r.label for r in report.regions] == ["scratch"] and report.usage.requests == 2 for report in reports)
