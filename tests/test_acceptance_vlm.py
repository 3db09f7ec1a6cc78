"""Issue 2's acceptance, end to end: the real SDK against a loopback server, through the Detector and the CLI."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genad import Detector, ExpertResult, OpenAIClient, Region
from genad._cli import main
from loopback import LoopbackVLM, Scripted, answer_json, chat_completion, error_body

REGION = {"image": 2, "box": [40, 30, 90, 80], "interval": None, "cells": None, "mark": None,
          "label": "cord", "confidence": 0.7}
REPLY = answer_json(True, 0.87, "contamination", [REGION], "A cord lies inside the bottle.")


@pytest.fixture
def bottle(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    good, bad = tmp_path / "good.png", tmp_path / "bottle.png"
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(good)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(bad)
    return bad, good


def _client(server: LoopbackVLM) -> OpenAIClient:
    return OpenAIClient(model="m", base_url=server.url, api_key="k")


def test_detect_sends_one_request_with_two_images_and_maps_the_answer(
    loopback_vlm: LoopbackVLM, bottle: tuple[Path, Path]
) -> None:
    loopback_vlm.script((200, chat_completion(REPLY, model="m", prompt_tokens=1234, completion_tokens=56)))
    bad, good = bottle
    report = Detector(client=_client(loopback_vlm), mode="vlm").detect(bad, category="bottle", references=[good])

    assert len(loopback_vlm.requests) == 1
    request = loopback_vlm.requests[0]
    assert request["model"] == "m"
    parts = request["messages"][-1]["content"]
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    text = " ".join(p["text"] for p in parts if p["type"] == "text")
    assert len(images) == 2
    assert all(url.startswith("data:image/jpeg;base64,") for url in images)
    assert "The first image given about the bottle is normal." in text
    assert "Please determine whether the second image given about the bottle contains anomalies" in text
    assert request["response_format"]["type"] == "json_schema"

    assert report.ok
    assert report.mode == "vlm"
    assert report.is_anomalous is True
    assert report.score == pytest.approx(0.87)
    assert report.anomaly_type == "contamination"
    assert report.explanation == "A cord lies inside the bottle."
    assert report.model == "m"
    assert report.usage.prompt_tokens == 1234 and report.usage.completion_tokens == 56
    assert report.latency_s > 0


class CornerExpert:
    """Flags the top-left 50x50 corner with confidence 0.9."""

    def score(self, sample: object, references: object = ()) -> ExpertResult:
        return ExpertResult(score=0.9, raw_score=3.0,
                            regions=(Region(box=(0, 0, 50, 50), confidence=0.9, source="expert"),))

    def score_many(self, samples: Sequence[object], references: object = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]


def test_hybrid_sends_marks_and_the_vlm_decides(loopback_vlm: LoopbackVLM, bottle: tuple[Path, Path]) -> None:
    confirm = {**REGION, "mark": 1, "box": None, "image": 3, "label": "stain"}
    loopback_vlm.script((200, chat_completion(answer_json(True, 0.8, "stain", [confirm], "Mark 1 is a stain."))))
    bad, good = bottle
    detector = Detector(client=_client(loopback_vlm), experts={"image": CornerExpert()})
    assert detector.resolved_mode() == "hybrid"
    report = detector.detect(bad, category="bottle", references=[good])
    parts = loopback_vlm.requests[0]["messages"][-1]["content"]
    text = " ".join(p["text"] for p in parts if p["type"] == "text")
    assert sum(p["type"] == "image_url" for p in parts) == 3  # reference, inspected, marks
    assert "The second image needs to be inspected. The third image contains its corresponding marks." in text
    assert "mark 1: expert confidence 0.90" in text
    assert report.mode == "hybrid"
    assert report.score == pytest.approx(0.8) and report.expert_score == pytest.approx(0.9)
    (region,) = report.regions
    assert region.source == "hybrid" and region.box == (0, 0, 50, 50) and region.label == "stain"


def test_vlm_mode_report_matches_the_servers_json(loopback_vlm: LoopbackVLM, bottle: tuple[Path, Path]) -> None:
    loopback_vlm.script((200, chat_completion(REPLY, model="m")))
    bad, good = bottle
    report = Detector(client=_client(loopback_vlm), mode="vlm").detect(bad, category="bottle", references=[good])
    assert report.score == pytest.approx(0.87)
    (region,) = report.regions
    assert region.box == (40.0, 30.0, 90.0, 80.0)  # 400x300 fits 768 px: no resize
    assert region.label == "cord" and region.confidence == pytest.approx(0.7)


def test_cli_detect_json_prints_the_same_report(
    loopback_vlm: LoopbackVLM, bottle: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    loopback_vlm.script((200, chat_completion(REPLY, model="m")), (200, chat_completion(REPLY, model="m")))
    bad, good = bottle
    expected = Detector(client=_client(loopback_vlm), mode="vlm").detect(bad, category="bottle", references=[good])
    code = main(["detect", str(bad), "--reference", str(good), "--category", "bottle", "--json", "--mode", "vlm",
                 "--model", "m", "--base-url", loopback_vlm.url])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    want = expected.to_dict()
    for volatile in ("latency_s",):
        printed.pop(volatile)
        want.pop(volatile)
    assert printed == want


def _log_everything_to(path: str) -> None:
    """Process-pool initializer: every log record of the worker process, from DEBUG up, appended to ``path``."""
    import logging

    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(process)d %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def test_worker_processes_send_the_key_and_it_never_shows(
    loopback_vlm: LoopbackVLM, bottle: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A detector sent to worker processes authenticates there with its key (``Authorization: Bearer``), and
    the key appears in no repr, no report, no log line of this process or of the workers, and no error text."""
    key = "sk-genad-" + uuid.uuid4().hex
    refused = error_body(f"Incorrect API key provided: {key}.", type="invalid_request_error")
    loopback_vlm.script(lambda request: (200, chat_completion(REPLY, model="m")),
                        lambda request: (200, chat_completion(REPLY, model="m")),
                        lambda request: (200, chat_completion(REPLY, model="m")),
                        Scripted(401, refused))
    client = OpenAIClient(model="m", base_url=loopback_vlm.url, api_key=key, max_retries=0)
    detector = Detector(client=client, mode="vlm")
    log = tmp_path / "workers.log"
    caplog.set_level(logging.DEBUG)
    with ProcessPoolExecutor(2, initializer=_log_everything_to, initargs=(str(log),)) as pool:
        reports = detector.detect_many([str(bottle[0])] * 4, executor=pool, max_in_flight=1, progress=False)

    assert client._sdk_ is None  # this process never connected: every request came from a worker process
    assert [h.get("authorization") for h in loopback_vlm.headers] == [f"Bearer {key}"] * 4
    assert [r.ok for r in reports] == [True, True, True, False]
    assert reports[3].error_type == "BackendStatusError" and "401" in (reports[3].error or "")
    worker_log = log.read_text()
    assert "chat request" in worker_log  # the workers logged at DEBUG, genad's lines and the SDK's
    shown = [repr(detector), str(detector), repr(client), worker_log, caplog.text,
             *(repr(r) for r in reports), *(r.to_json() for r in reports), *(str(r.error) for r in reports)]
    leaks = [text[:200] for text in shown if key in text or key[-12:] in text]
    assert not leaks


def test_boxes_outside_the_image_are_clipped_or_dropped_and_noted(
    loopback_vlm: LoopbackVLM, bottle: tuple[Path, Path]
) -> None:
    regions = [
        {**REGION, "image": 1, "box": [350, 250, 500, 400], "label": "overhang"},  # crosses the right/bottom edge
        {**REGION, "image": 1, "box": [900, 900, 950, 950], "label": "outside"},
    ]
    loopback_vlm.script((200, chat_completion(answer_json(True, 0.9, "dent", regions, "two boxes"))))
    report = Detector(client=_client(loopback_vlm), mode="vlm").detect(bottle[0])  # 400x300
    (region,) = report.regions
    assert region.box == (350.0, 250.0, 400.0, 300.0)
    assert any("clipped" in note for note in report.notes)
    assert any("dropped" in note for note in report.notes)
