"""What the Detector puts on the wire, decoded: which image is the reference, which the query, which the marks;
the schema the server is asked to follow; the system message. The real openai SDK talks to a loopback server."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from genad import Detector, ExpertResult, LadderPrompt, OpenAIClient, Region
from genad._contract import ANSWER_SCHEMA
from genad.annotate import MARK_COLOURS
from loopback import LoopbackVLM, answer_json, chat_completion

SHAPE = (120, 160)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A dark reference with a vertical bar and a bright query with a horizontal bar: easy to tell apart."""
    ref = np.full((*SHAPE, 3), 40, np.uint8)
    ref[:, 70:90] = 120
    query = np.full((*SHAPE, 3), 200, np.uint8)
    query[50:70, :] = 90
    paths = tmp_path / "good.png", tmp_path / "part.png"
    Image.fromarray(ref).save(paths[0])
    Image.fromarray(query).save(paths[1])
    return paths[1], paths[0]


def _images(request: dict[str, Any]) -> list[np.ndarray]:
    """Every image of the request's messages, decoded, in order."""
    out = []
    for message in request["messages"]:
        content = message["content"]
        for part in content if isinstance(content, list) else ():
            if part["type"] == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                assert bgr is not None
                out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return out


def _client(server: LoopbackVLM) -> OpenAIClient:
    return OpenAIClient(model="m", base_url=server.url, api_key="k")


def test_the_reference_comes_first_and_the_query_second(loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]) -> None:
    loopback_vlm.script((200, chat_completion(answer_json(False, 0.1))))
    query, ref = pair
    Detector(client=_client(loopback_vlm), mode="vlm").detect(query, references=[ref])
    first, second = _images(loopback_vlm.requests[0])
    assert first.shape[:2] == second.shape[:2] == SHAPE
    assert abs(float(first[:, 75:85].mean()) - 120) < 8 and abs(float(first[:, :60].mean()) - 40) < 8
    assert abs(float(second[55:65].mean()) - 90) < 8 and abs(float(second[:40].mean()) - 200) < 8


def test_the_server_is_asked_for_the_answer_schema_and_gets_the_system_message(
        loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]) -> None:
    loopback_vlm.script((200, chat_completion(answer_json(False, 0.1))))
    query, ref = pair
    prompt = LadderPrompt(system="You are an inspector of machined parts.")
    Detector(client=_client(loopback_vlm), mode="vlm", prompt=prompt).detect(query, references=[ref])
    request = loopback_vlm.requests[0]
    assert request["messages"][0] == {"role": "system", "content": "You are an inspector of machined parts."}
    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"] == ANSWER_SCHEMA
    assert response_format["json_schema"]["strict"] is True
    texts = [p["text"] for p in request["messages"][-1]["content"] if p["type"] == "text"]
    listing = "Image 1: normal reference 1, 160x120 px. Image 2: inspected, 160x120 px."
    assert texts[-1].startswith(f"{listing} Answer with one JSON object")
    text = " ".join(texts)
    assert text.count("Answer with one JSON object") == 1


class CornerExpert:
    """Flags a 50 x 40 box at the top-left of the query."""

    def score(self, sample: object, references: object = ()) -> ExpertResult:
        return ExpertResult(score=0.9, raw_score=3.0,
                            regions=(Region(box=(5, 5, 55, 45), confidence=0.9, source="expert"),))

    def score_many(self, samples: Sequence[object], references: object = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]


def test_hybrid_sends_the_marks_as_a_third_image_with_mark_1_on_the_expert_box(
        loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]) -> None:
    confirm = {"image": 3, "box": None, "interval": None, "cells": None, "mark": 1, "label": "dent",
               "confidence": 0.8}
    loopback_vlm.script((200, chat_completion(answer_json(True, 0.8, "dent", [confirm], "Mark 1 is a dent."))))
    query, ref = pair
    report = Detector(client=_client(loopback_vlm), experts={"image": CornerExpert()}).detect(query, references=[ref])
    reference, inspected, marks = _images(loopback_vlm.requests[0])
    assert abs(float(reference.mean()) - float(inspected.mean())) > 50
    changed = np.abs(marks.astype(int) - inspected.astype(int)).sum(axis=2) > 60
    ys, xs = np.nonzero(changed)
    assert 0 <= xs.min() <= 7 and 50 <= xs.max() <= 60 and ys.max() <= 48  # the box and its tag, nothing else
    edge = marks[20:30, 3:8].astype(int).reshape(-1, 3)  # around the box's left edge
    red, other = np.array(MARK_COLOURS[0]), np.array(MARK_COLOURS[1:])
    assert np.abs(edge - red).max(axis=1).min() < np.abs(edge[:, None] - other[None]).max(axis=2).min()
    assert report.regions[0].source == "hybrid" and report.regions[0].box == (5, 5, 55, 45)
