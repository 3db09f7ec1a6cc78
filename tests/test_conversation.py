"""Follow-up questions over the real SDK and a loopback server: same images, earlier turns, updated report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genad import AnomalyReport, Conversation, Detector, OpenAIClient
from genad._conversation import FOLLOWUP_SCHEMA
from genad.errors import ConfigurationError, InputError
from genad.testing import ScriptedClient
from loopback import LoopbackVLM, answer_json, chat_completion


def _region(box: list[float], label: str) -> dict[str, object]:
    return {"image": 2, "box": box, "interval": None, "cells": None, "mark": None, "label": label,
            "confidence": 0.6}


FIRST = answer_json(True, 0.7, "scratch", [_region([10, 10, 50, 40], "scratch"), _region([100, 60, 140, 90], "spot")],
                    "A scratch and a spot.")
FOLLOW = json.dumps({
    **json.loads(answer_json(True, 0.75, "scratch", [_region([10, 10, 50, 40], "scratch")], "Only the scratch.")),
    "answer": "Region 2 is a reflection of the lamp: it also appears on the reference.",
})


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(2)
    good, bad = tmp_path / "good.png", tmp_path / "part.png"
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(good)
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(bad)
    return bad, good


def _detector(server: LoopbackVLM) -> Detector:
    return Detector(client=OpenAIClient(model="m", base_url=server.url, api_key="k"), mode="vlm")


def test_a_follow_up_carries_the_images_and_earlier_turns_and_updates_the_report(
    loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]
) -> None:
    loopback_vlm.script((200, chat_completion(FIRST, prompt_tokens=900, completion_tokens=70)),
                        (200, chat_completion(FOLLOW, prompt_tokens=1000, completion_tokens=50)))
    bad, good = pair
    conversation = _detector(loopback_vlm).converse(bad, references=[good], category="bottle")
    assert len(conversation.report.regions) == 2

    reply = conversation.ask("Look again at region 2: is it a scratch or a reflection?")
    first, second = loopback_vlm.requests
    n = len(first["messages"])
    assert second["messages"][:n] == first["messages"]
    images = [p for p in second["messages"][0]["content"] if p["type"] == "image_url"]
    assert len(images) == 2
    assistant, question = second["messages"][n:]
    assert assistant == {"role": "assistant", "content": FIRST}
    assert question["content"].startswith(
        "Follow-up question about the inspected image: Look again at region 2: is it a scratch or a reflection?")
    assert "2. image 2, box [100, 60, 140, 90] 'spot'" in question["content"]
    assert second["response_format"]["json_schema"]["schema"] == FOLLOWUP_SCHEMA

    assert reply.answer == "Region 2 is a reflection of the lamp: it also appears on the reference."
    assert reply.report is conversation.report
    (region,) = reply.report.regions
    assert region.label == "scratch" and reply.report.score == pytest.approx(0.75)
    assert reply.report.usage.prompt_tokens == 1900 and reply.report.usage.requests == 2
    assert reply.report.raw == f"{FIRST}\n---\n{FOLLOW}"
    assert [t.kind for t in conversation.turns] == ["detect", "ask"]
    assert AnomalyReport.from_json(reply.report.to_json()).to_dict() == reply.report.to_dict()


def test_each_turn_resends_the_whole_dialogue(loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]) -> None:
    loopback_vlm.script((200, chat_completion(FIRST)), (200, chat_completion(FOLLOW)), (200, chat_completion(FOLLOW)))
    bad, good = pair
    conversation = _detector(loopback_vlm).converse(bad, references=[good])
    conversation.ask("Is region 2 a reflection?")
    conversation.ask("How long is the scratch?")
    roles = [m["role"] for m in loopback_vlm.requests[2]["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert loopback_vlm.requests[2]["messages"][2]["content"].count("Is region 2 a reflection?") == 1
    assert "1. image 2, box [10, 10, 50, 40] 'scratch'" in loopback_vlm.requests[2]["messages"][4]["content"]
    assert conversation.report.usage.requests == 3
    assert len(conversation.messages) == 6


def test_a_free_text_follow_up_answers_with_its_text(pair: tuple[Path, Path]) -> None:
    client = ScriptedClient([json.loads(FIRST), "No, region 2 is only a reflection; the part has no defect."])
    bad, good = pair
    conversation = Detector(client=client, mode="vlm").converse(bad, references=[good])
    reply = conversation.ask("Is region 2 a defect?")
    assert reply.answer == "No, region 2 is only a reflection; the part has no defect."
    assert reply.report.is_anomalous is False
    assert reply.report.usage.requests == 2


def test_an_unreadable_follow_up_keeps_the_verdict(pair: tuple[Path, Path]) -> None:
    client = ScriptedClient([json.loads(FIRST), '{"is_anomalous": "maybe", ', '{"score": 7}'])
    bad, good = pair
    conversation = Detector(client=client, mode="vlm").converse(bad, references=[good])
    reply = conversation.ask("Is region 2 a defect?")
    assert reply.report.is_anomalous is True and len(reply.report.regions) == 2
    assert any("follow-up reply could not be read" in n for n in reply.report.notes)
    assert reply.report.usage.requests == 3 and reply.answer == '{"score": 7}'


def test_verify_then_ask_keeps_every_turn(pair: tuple[Path, Path]) -> None:
    check = {"claims": [{"claim": 2, "supported": False, "reason": "reflection"}], "is_anomalous": True,
             "score": 0.7, "anomaly_type": "scratch", "explanation": "The scratch."}
    client = ScriptedClient([json.loads(FIRST), check, json.loads(FOLLOW)])
    bad, good = pair
    conversation = Detector(client=client, mode="vlm", verify=True).converse(bad, references=[good])
    assert len(conversation.report.regions) == 1
    conversation.ask("How long is the scratch?")
    assert [t.kind for t in conversation.turns] == ["detect", "verify", "ask"]
    assert [m.role for m in client.calls[2]] == ["user", "assistant", "user", "assistant", "user"]
    assert conversation.report.usage.requests == 3


def test_conversations_need_a_vlm_and_a_question(pair: tuple[Path, Path]) -> None:
    bad, good = pair
    with pytest.raises(ConfigurationError):
        Detector(mode="local").converse(bad, references=[good])
    conversation = Detector(client=ScriptedClient([json.loads(FIRST)]), mode="vlm").converse(bad)
    with pytest.raises(InputError):
        conversation.ask("  ")


def test_a_saved_report_is_resumed_with_its_images_and_verdict(
    loopback_vlm: LoopbackVLM, pair: tuple[Path, Path]
) -> None:
    loopback_vlm.script((200, chat_completion(FIRST)), (200, chat_completion(FOLLOW)))
    bad, good = pair
    detector = _detector(loopback_vlm)
    saved = detector.detect(bad, references=[good], category="bottle").to_json()

    conversation = Conversation.resume(detector, AnomalyReport.from_json(saved), references=[good],
                                       category="bottle")
    reply = conversation.ask("Is region 2 a reflection?")
    first, second = loopback_vlm.requests
    assert second["messages"][0] == first["messages"][0]  # the rebuilt prompt is the original one, images included
    restated = json.loads(second["messages"][1]["content"])
    assert restated["is_anomalous"] is True and restated["score"] == pytest.approx(0.7)
    assert [r["box"] for r in restated["regions"]] == [[10, 10, 50, 40], [100, 60, 140, 90]]
    assert [r["image"] for r in restated["regions"]] == [2, 2]
    assert reply.report.usage.requests == 2 and len(reply.report.regions) == 1
    with pytest.raises(InputError):
        Conversation.resume(detector, AnomalyReport.failed(ValueError("x")))
