"""A scriptable OpenAI-compatible server on 127.0.0.1, for tests and benchmarks (no network, no key).

It speaks ``POST /v1/chat/completions`` over real HTTP, so genad's client is exercised through the real ``openai``
SDK. In a test::

    from loopback import LoopbackVLM, Scripted, chat_completion

    with LoopbackVLM() as server:                      # or the ``loopback_vlm`` fixture
        server.script(Scripted(429, {"error": {"message": "slow down"}}), chat_completion('{"is_anomalous": true}'))
        client = OpenAIClient(model="m", base_url=server.url, api_key="k")
        ...
        server.requests                                # every request body, parsed, in arrival order

Each request takes the next scripted item; when the script is empty, ``responder(request_json)`` answers (by
default a valid contract answer, "normal", score 0.1). A scripted item or a responder's result is a
:class:`Scripted`, a ``(status, body)`` tuple, or a callable taking the request JSON and returning either.

As a process, for benchmarks and kill/resume tests (prints the port on the first line of stdout, then serves until
killed)::

    python tests/loopback.py --port 0 --sleep 0.5
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["LoopbackVLM", "Scripted", "answer_json", "chat_completion", "error_body", "loopback_vlm"]

JSON = dict[str, Any]


@dataclass(frozen=True)
class Scripted:
    """One scripted HTTP answer: status, body (a dict sent as JSON, or raw text), extra headers, a delay before
    answering (seconds), or ``drop=True`` to close the connection without answering."""

    status: int = 200
    body: JSON | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


Answerable = Scripted | tuple[int, JSON | str]
Responder = Callable[[JSON], Answerable]
ScriptItem = Answerable | Responder


def answer_json(is_anomalous: bool = False, score: float = 0.1, anomaly_type: str | None = None,
                regions: list[JSON] | None = None, explanation: str = "looks like the references") -> str:
    """A reply text that follows genad's JSON contract."""
    return json.dumps({
        "is_anomalous": is_anomalous, "score": score, "anomaly_type": anomaly_type, "regions": regions or [],
        "rejected_marks": [], "explanation": explanation,
    })


def chat_completion(content: str | None, *, model: str = "loopback-model", refusal: str | None = None,
                    prompt_tokens: int = 100, completion_tokens: int = 20, finish_reason: str = "stop") -> JSON:
    """A ``chat.completion`` response body with one choice."""
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish_reason,
        }],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None) -> JSON:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": None}}


def _default_responder(request: JSON) -> Answerable:
    return 200, chat_completion(answer_json(), model=str(request.get("model", "loopback-model")))


class LoopbackVLM:
    """A threaded HTTP server answering ``POST /v1/chat/completions`` from a script.

    ``url`` is the base URL to give a client (``http://127.0.0.1:PORT/v1``). ``requests`` and ``headers`` record
    every chat request's parsed JSON body and headers (names lower-cased), unless ``record=False``. ``sleep``
    delays every answer of the default responder, as a slow model would.
    """

    def __init__(self, responder: Responder | None = None, *, port: int = 0, sleep: float = 0.0,
                 record: bool = True) -> None:
        self.responder = responder or _default_responder
        self.port = port
        self.sleep = sleep
        self.record = record
        self.requests: list[JSON] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[ScriptItem] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *items: ScriptItem) -> LoopbackVLM:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._script.extend(items)
        return self

    @property
    def pending(self) -> int:
        """Scripted answers not used yet."""
        return len(self._script)

    def start(self) -> LoopbackVLM:
        server = _Server(("127.0.0.1", self.port), _handler_for(self))
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="loopback-vlm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackVLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: JSON, headers: dict[str, str]) -> Scripted:
        with self._lock:
            if self.record:
                self.requests.append(request)
                self.headers.append(headers)
            item: ScriptItem | None = self._script.popleft() if self._script else None
        if item is None:
            answer = _as_scripted(self.responder(request))
            return answer if answer.delay or not self.sleep else Scripted(
                answer.status, answer.body, answer.headers, self.sleep, answer.drop)
        if callable(item):
            return _as_scripted(item(request))
        return _as_scripted(item)


def _as_scripted(item: Answerable) -> Scripted:
    if isinstance(item, Scripted):
        return item
    status, body = item
    return Scripted(status, body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping (a timeout test) does not hold up stop()
    request_queue_size = 256  # many clients connecting at once (detect_many benchmarks)


def _handler_for(server: LoopbackVLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(Scripted(404, {"error": {"message": f"no route {self.path}"}}))
                return
            try:
                request = json.loads(raw)
            except ValueError:
                self._send(Scripted(400, error_body("the body is not JSON")))
                return
            self._send(server._answer(request, {k.lower(): v for k, v in self.headers.items()}))

        def _send(self, answer: Scripted) -> None:
            if answer.delay:
                time.sleep(answer.delay)
            if answer.drop:
                self.close_connection = True
                return
            body = answer.body if isinstance(answer.body, str) else json.dumps(answer.body)
            data = body.encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``requests`` instead."""

    return Handler


@pytest.fixture
def loopback_vlm() -> Iterator[LoopbackVLM]:
    """A started :class:`LoopbackVLM`, stopped after the test. Import it into ``conftest.py`` to share it."""
    with LoopbackVLM() as server:
        yield server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a scriptable OpenAI-compatible chat endpoint on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--answer", default=None, help="reply text to send (default: a 'normal' contract answer)")
    args = parser.parse_args(argv)
    text = args.answer if args.answer is not None else answer_json()
    server = LoopbackVLM(lambda request: (200, chat_completion(text)), port=args.port, sleep=args.sleep,
                         record=False)
    server.start()
    assert server._server is not None
    print(server._server.server_address[1], flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
