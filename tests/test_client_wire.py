"""OpenAIClient through the real openai SDK against a loopback HTTP server (no network, no key)."""

from __future__ import annotations

import base64
import logging
import pickle
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from genad import ImagePart, Message, OpenAIClient, Usage, parse_answer
from genad._contract import ANSWER_SCHEMA
from genad._openai import endpoint_configured
from genad.errors import (
    BackendConnectionError,
    BackendStatusError,
    BackendTimeoutError,
    ConfigurationError,
    ParseError,
    RateLimitError,
    RefusalError,
)
from loopback import LoopbackVLM, Scripted, answer_json, chat_completion, error_body

KEY = "sk-loopback-SECRET-0123456789abcdef"
FAST_RETRY = {"retry-after-ms": "10"}  # the SDK honours it, so retries take 10 ms instead of ~0.5-8 s


@pytest.fixture
def server() -> Iterator[LoopbackVLM]:
    with LoopbackVLM() as started:
        yield started


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("GENAD", "OPENAI"):
        for name in ("BASE_URL", "MODEL", "API_KEY"):
            monkeypatch.delenv(f"{prefix}_{name}", raising=False)


def _client(server: LoopbackVLM, **kwargs: Any) -> OpenAIClient:
    options: dict[str, Any] = {"model": "m", "base_url": server.url, "api_key": KEY, "timeout": 5.0,
                               "max_retries": 2}
    options.update(kwargs)
    return OpenAIClient(**options)


def _messages() -> list[Message]:
    reference = ImagePart.from_array(np.zeros((8, 8, 3), np.uint8))
    query = ImagePart.from_array(np.full((8, 12, 3), 200, np.uint8))
    return [Message("system", ("You inspect parts.",)),
            Message("user", (reference, query, "The first image is normal. Please determine ..."))]


def test_request_shape_and_reply(server: LoopbackVLM) -> None:
    server.script((200, chat_completion(answer_json(True, 0.9, "crack"), model="served-model",
                                              prompt_tokens=321, completion_tokens=45)))
    messages = _messages()
    reply = _client(server, temperature=0.0, image_detail="high").complete(messages, ANSWER_SCHEMA)

    (sent,) = server.requests
    assert sent["model"] == "m"
    assert sent["temperature"] == 0.0
    assert sent["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "anomaly_report", "schema": ANSWER_SCHEMA, "strict": True}}
    assert sent["messages"][0] == {"role": "system", "content": "You inspect parts."}
    parts = sent["messages"][1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    for part, image in zip(parts, messages[1].images, strict=False):
        url = part["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == image.data
        assert part["image_url"]["detail"] == "high"
    assert parts[2]["text"] == "The first image is normal. Please determine ..."
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"

    assert reply.data is not None
    assert reply.data["anomaly_type"] == "crack"
    assert reply.model == "served-model"
    assert reply.response_format == "json_schema"
    assert reply.usage == Usage(prompt_tokens=321, completion_tokens=45, requests=1)
    assert reply.latency_s > 0
    answer = parse_answer(reply.text, reply.data)
    assert answer.is_anomalous
    assert answer.score == 0.9


def test_no_temperature_and_max_tokens_when_asked(server: LoopbackVLM) -> None:
    _client(server, temperature=None, max_tokens=300).complete(_messages(), ANSWER_SCHEMA)
    sent = server.requests[0]
    assert "temperature" not in sent
    assert sent["max_tokens"] == 300


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_status_then_success(server: LoopbackVLM, status: int) -> None:
    server.script(Scripted(status, error_body("try again"), headers=FAST_RETRY))
    reply = _client(server).complete(_messages(), ANSWER_SCHEMA)
    assert len(server.requests) == 2
    assert parse_answer(reply.text, reply.data).is_anomalous is False


def test_rate_limit_after_all_retries(server: LoopbackVLM) -> None:
    server.script(*[Scripted(429, error_body("rate limited", type="rate_limit"), headers=FAST_RETRY)] * 2)
    with pytest.raises(RateLimitError, match="429"):
        _client(server, max_retries=1).complete(_messages(), ANSWER_SCHEMA)
    assert len(server.requests) == 2


def test_server_error_after_all_retries(server: LoopbackVLM) -> None:
    server.script(*[Scripted(502, error_body("bad gateway"), headers=FAST_RETRY)] * 2)
    with pytest.raises(BackendStatusError, match="502") as info:
        _client(server, max_retries=1).complete(_messages(), ANSWER_SCHEMA)
    assert info.value.status_code == 502


def test_timeout_is_typed(server: LoopbackVLM) -> None:
    server.script(Scripted(200, chat_completion(answer_json()), delay=1.0))
    with pytest.raises(BackendTimeoutError, match="did not answer"):
        _client(server, timeout=0.2, max_retries=0).complete(_messages(), ANSWER_SCHEMA)


def test_connection_refused_is_typed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OpenAIClient(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)
    with pytest.raises(BackendConnectionError, match=f"127.0.0.1:{port}"):
        client.complete(_messages(), ANSWER_SCHEMA)


def test_dropped_connection_is_retried(server: LoopbackVLM) -> None:
    server.script(Scripted(drop=True))
    reply = _client(server, max_retries=1).complete(_messages(), ANSWER_SCHEMA)
    assert reply.data is not None
    assert len(server.requests) == 2


def test_fallback_json_schema_to_json_object_to_text(server: LoopbackVLM) -> None:
    server.script(
        (400, error_body("response_format json_schema is not supported", param="response_format")),
        (400, error_body("'response_format' of type 'json_object' is not supported")),
        (200, chat_completion("No anomalies: the bottle looks intact.")),
    )
    client = _client(server)
    reply = client.complete(_messages(), ANSWER_SCHEMA)

    formats = [r.get("response_format", {}).get("type") for r in server.requests]
    assert formats == ["json_schema", "json_object", None]
    assert reply.response_format == "text"
    assert reply.data is None
    assert reply.usage.requests == 3
    assert parse_answer(reply.text, reply.data).is_anomalous is False

    client.complete(_messages(), ANSWER_SCHEMA)  # the level that worked is remembered
    assert "response_format" not in server.requests[-1]
    assert client.response_format == "text"


def test_fallback_stops_at_json_object(server: LoopbackVLM) -> None:
    server.script((422, error_body("Unsupported value: response_format.json_schema")))
    client = _client(server)
    reply = client.complete(_messages(), ANSWER_SCHEMA)
    assert reply.response_format == "json_object" == client.response_format
    assert server.requests[1]["response_format"] == {"type": "json_object"}


def test_server_error_naming_the_format_falls_back(server: LoopbackVLM) -> None:
    message = 'response_format type must be one of "text" or "json_object", but got: json_schema'
    server.script(Scripted(500, error_body(message, type="server_error"), headers=FAST_RETRY))
    reply = _client(server, max_retries=0).complete(_messages(), ANSWER_SCHEMA)
    assert reply.response_format == "json_object"


def test_plain_bad_request_after_a_format_worked_is_an_error(server: LoopbackVLM) -> None:
    client = _client(server)
    client.complete(_messages(), ANSWER_SCHEMA)
    server.script((400, error_body("image too large")))
    with pytest.raises(BackendStatusError, match="image too large") as info:
        client.complete(_messages(), ANSWER_SCHEMA)
    assert info.value.status_code == 400
    assert len(server.requests) == 2  # no fallback: json_schema is known to work
    assert client.response_format == "json_schema"


def test_bad_request_at_every_level_raises(server: LoopbackVLM) -> None:
    server.script(*[(400, error_body("model 'm' does not support images"))] * 3)
    client = _client(server)
    with pytest.raises(BackendStatusError, match="does not support images"):
        client.complete(_messages(), ANSWER_SCHEMA)
    assert len(server.requests) == 3
    assert client.response_format == "json_schema"  # nothing worked, nothing remembered


def test_malformed_json_reply(server: LoopbackVLM) -> None:
    server.script((200, chat_completion('{"is_anomalous": true, "score": 0.9, "regions": [')))
    reply = _client(server).complete(_messages(), ANSWER_SCHEMA)
    assert reply.data is None
    with pytest.raises(ParseError, match="does not decode"):
        parse_answer(reply.text, reply.data)


@pytest.mark.parametrize("content", [
    '{"is_anomalous": true, "score": 7, "regions": [], "explanation": "x"}',
    '{"score": 0.4, "regions": [], "explanation": "x"}',
    '{"is_anomalous": true, "score": 0.5, "regions": "the whole part"}',
])
def test_off_schema_reply(server: LoopbackVLM, content: str) -> None:
    server.script((200, chat_completion(content)))
    reply = _client(server).complete(_messages(), ANSWER_SCHEMA)
    assert reply.data is not None
    with pytest.raises(ParseError, match="does not match the contract"):
        parse_answer(reply.text, reply.data)


def test_refusal(server: LoopbackVLM) -> None:
    server.script((200, chat_completion(None, refusal="I can't help with that.")))
    with pytest.raises(RefusalError, match="can't help"):
        _client(server).complete(_messages(), ANSWER_SCHEMA)


def test_content_filter_without_content_is_a_refusal(server: LoopbackVLM) -> None:
    server.script((200, chat_completion(None, finish_reason="content_filter")))
    with pytest.raises(RefusalError, match="content filter"):
        _client(server).complete(_messages(), ANSWER_SCHEMA)


def test_api_key_never_leaks(server: LoopbackVLM, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = error_body(f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}", type="invalid_api_key")
    server.script((401, echo), (200, chat_completion(None, refusal=f"no, {KEY}")),
                        *[Scripted(500, echo, headers=FAST_RETRY)] * 2)
    client = _client(server, max_retries=1)
    raised = []
    for _ in range(3):
        with pytest.raises(Exception) as info:  # noqa: PT011 - each is checked below
            client.complete(_messages(), ANSWER_SCHEMA)
        raised.append(info.value)
    assert [type(e) for e in raised] == [BackendStatusError, RefusalError, BackendStatusError]
    for exc in raised:
        assert KEY not in str(exc)
        assert KEY not in repr(exc)
        assert exc.__cause__ is None
        assert exc.__context__ is None
    assert "Incorrect API key provided: ***" in str(raised[0])
    assert KEY not in repr(client)
    assert "api_key='***'" in repr(client)
    genad_logs = [r.getMessage() for r in caplog.records if r.name.startswith("genad")]
    assert genad_logs, "genad logs its requests at DEBUG"
    assert all(KEY not in line for line in genad_logs)
    assert all(KEY not in r.getMessage() for r in caplog.records)  # nor does the SDK, at DEBUG


def test_pickles_before_and_after_use(server: LoopbackVLM) -> None:
    client = _client(server)
    fresh = pickle.loads(pickle.dumps(client))
    client.complete(_messages(), ANSWER_SCHEMA)
    used = pickle.loads(pickle.dumps(client))
    assert used._sdk_ is None
    for copy in (fresh, used):
        assert copy.complete(_messages(), ANSWER_SCHEMA).data is not None
    assert len(server.requests) == 3


def test_settings_come_from_the_environment_lazily(server: LoopbackVLM,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = OpenAIClient()
    assert not endpoint_configured()
    with pytest.raises(ConfigurationError, match="GENAD_MODEL"):
        _ = client.model
    monkeypatch.setenv("OPENAI_MODEL", "from-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("GENAD_MODEL", "from-genad")
    monkeypatch.setenv("GENAD_BASE_URL", server.url)
    monkeypatch.setenv("GENAD_API_KEY", KEY)
    assert endpoint_configured()
    assert client.model == "from-genad"
    assert client.base_url == server.url
    client.complete(_messages(), ANSWER_SCHEMA)
    assert server.requests[0]["model"] == "from-genad"
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(client)


def test_local_server_needs_no_key(server: LoopbackVLM) -> None:
    OpenAIClient(model="m", base_url=server.url).complete(_messages(), ANSWER_SCHEMA)
    assert server.headers[0]["authorization"] == "Bearer not-needed"


def test_openai_api_without_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="GENAD_API_KEY"):
        OpenAIClient(model="gpt-4o").complete(_messages(), ANSWER_SCHEMA)


def test_image_in_assistant_message_is_rejected(server: LoopbackVLM) -> None:
    image = ImagePart.from_array(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="only user messages"):
        _client(server).complete([Message("assistant", (image, "x"))], ANSWER_SCHEMA)
