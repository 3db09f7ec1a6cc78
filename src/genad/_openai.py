"""A :class:`~genad.VLMClient` for any OpenAI-compatible ``/v1/chat/completions`` endpoint, through the ``openai`` SDK.

Settings come from the arguments, else from ``GENAD_BASE_URL`` / ``GENAD_MODEL`` / ``GENAD_API_KEY``, else from
``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` / ``OPENAI_API_KEY``, each looked up when it is first needed (so a client
built before the variables are set still sees them). Images travel as base64 ``data:`` URLs.

The reply format is negotiated once per client: first ``response_format`` ``json_schema`` (strict), and when the
server rejects that, ``json_object``, then no ``response_format`` at all (plain text, read by the lenient parser).
The level that worked is remembered. Retries on HTTP 408/409/429/5xx, timeouts and dropped connections are the
SDK's own (``max_retries``, honouring ``retry-after`` / ``retry-after-ms``); what still fails becomes a
:class:`~genad.errors.BackendError` whose text never contains the API key.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import openai

from genad._client import Reply
from genad._messages import ImagePart, Message
from genad._report import Usage
from genad.errors import (
    BackendConnectionError,
    BackendError,
    BackendStatusError,
    BackendTimeoutError,
    ConfigurationError,
    InputError,
    RateLimitError,
    RefusalError,
    redact,
)

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

__all__ = ["RESPONSE_FORMATS", "OpenAIClient", "endpoint_configured"]

log = logging.getLogger(__name__)

RESPONSE_FORMATS: tuple[str, ...] = ("json_schema", "json_object", "text")
"""The fallback chain, strictest first."""

SCHEMA_NAME = "anomaly_report"
_LOCAL_KEY = "not-needed"  # sent to servers given by base_url that take no key (vLLM, Ollama, llama.cpp, LM Studio)
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output", "guided", "grammar")
_MAX_SERVER_MESSAGE = 500

ImageDetail = Literal["auto", "low", "high"]


def _setting(name: str) -> str | None:
    """``GENAD_<name>``, else ``OPENAI_<name>``, else ``None`` (empty values count as unset)."""
    for var in (f"GENAD_{name}", f"OPENAI_{name}"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return None


def endpoint_configured() -> bool:
    """Whether the environment names a model (``GENAD_MODEL`` or ``OPENAI_MODEL``), so ``OpenAIClient()`` can work."""
    return _setting("MODEL") is not None


def _public_url(url: str) -> str:
    """``url`` without any ``user:password@`` part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class OpenAIClient:
    """Sends genad's messages to an OpenAI-compatible chat-completions endpoint.

    Parameters
    ----------
    model, base_url, api_key
        Default to the environment (see the module docstring). With a ``base_url`` and no key, a placeholder key
        is sent (local servers ignore it). Without a ``base_url`` the SDK's default (api.openai.com) is used and a
        key is required.
    timeout
        Seconds for one HTTP attempt.
    max_retries
        The SDK's retries after a timeout, a dropped connection or HTTP 408/409/429/5xx.
    temperature
        Sampling temperature; ``None`` leaves it out of the request (for models that accept only their default).
    image_detail
        The ``detail`` of each ``image_url`` part: ``"auto"``, ``"low"`` or ``"high"``.
    max_tokens
        Cap on the reply's tokens, sent as ``max_tokens`` when set.

    Examples
    --------
    >>> client = OpenAIClient(model="gpt-4o-mini", api_key="sk-...")            # doctest: +SKIP
    >>> client = OpenAIClient(model="qwen2.5vl", base_url="http://localhost:11434/v1")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        temperature: float | None = 0.0,
        image_detail: ImageDetail = "auto",
        max_tokens: int | None = None,
    ) -> None:
        self._model = model
        self._base_url = base_url
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.temperature = temperature
        self.image_detail = image_detail
        self.max_tokens = max_tokens
        self._sdk_: openai.OpenAI | None = None
        self._format_level_ = 0
        self._format_confirmed_ = False
        self._lock_ = threading.Lock()

    # -- settings ---------------------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model name: the argument, else ``GENAD_MODEL``, else ``OPENAI_MODEL``."""
        model = self._model or _setting("MODEL")
        if not model:
            raise ConfigurationError(
                "no model name: pass OpenAIClient(model=...) or set GENAD_MODEL (or OPENAI_MODEL)"
            )
        return model

    @property
    def base_url(self) -> str | None:
        """The endpoint's base URL (ending in ``/v1``), or ``None`` for the SDK's default."""
        return self._base_url or _setting("BASE_URL")

    @property
    def response_format(self) -> str:
        """The ``response_format`` level the next request starts with (one of :data:`RESPONSE_FORMATS`)."""
        return RESPONSE_FORMATS[self._format_level_]

    def _key(self) -> str | None:
        return self._api_key or _setting("API_KEY")

    def __repr__(self) -> str:
        model = self._model or _setting("MODEL")
        base_url = self.base_url
        key = "'***'" if self._key() else "None"
        where = repr(_public_url(base_url)) if base_url else "None"
        return (f"OpenAIClient(model={model!r}, base_url={where}, api_key={key}, timeout={self.timeout!r}, "
                f"max_retries={self.max_retries!r}, temperature={self.temperature!r}, "
                f"image_detail={self.image_detail!r})")

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sdk_"] = None
        del state["_lock_"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock_ = threading.Lock()

    # -- the call ---------------------------------------------------------------------------------------------

    def complete(self, messages: list[Message], schema: dict[str, Any]) -> Reply:
        """Send ``messages`` asking for JSON matching ``schema``; return the reply with its usage and latency.

        Raises :class:`~genad.errors.BackendError` subclasses: ``BackendConnectionError``,
        ``BackendTimeoutError``, ``RateLimitError`` (429 after all retries), ``BackendStatusError`` (any other
        HTTP error) and ``RefusalError`` (the model declined).
        """
        model = self.model
        sdk = self._client()
        payload = [_wire_message(m, self.image_detail) for m in messages]
        start = time.perf_counter()
        level = self._format_level_
        requests = 0
        while True:
            fmt = RESPONSE_FORMATS[level]
            kwargs = self._request_options(model, payload, schema, fmt)
            requests += 1
            log.debug("chat request: model=%s response_format=%s images=%d", model, fmt,
                      sum(len(m.images) for m in messages))
            error: BackendError | None = None
            try:
                completion = sdk.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                if level + 1 < len(RESPONSE_FORMATS) and self._rejects_format(exc):
                    log.info("the server rejected response_format=%s (HTTP %d); trying %s", fmt, exc.status_code,
                             RESPONSE_FORMATS[level + 1])
                    level += 1
                    continue
                error = self._backend_error(exc)
            except openai.OpenAIError as exc:
                error = self._backend_error(exc)
            if error is not None:
                raise error  # outside the except block: the SDK error (which may quote the key) is not chained
            break
        self._format_level_ = level
        self._format_confirmed_ = True
        return self._reply(completion, model, fmt, requests, time.perf_counter() - start)

    def _client(self) -> openai.OpenAI:
        if self._sdk_ is None:
            with self._lock_:
                if self._sdk_ is None:
                    base_url = self.base_url
                    key = self._key()
                    if key is None:
                        if base_url is None:
                            raise ConfigurationError(
                                "no API key for the OpenAI API: pass api_key=... or set GENAD_API_KEY (or "
                                "OPENAI_API_KEY), or point base_url / GENAD_BASE_URL at another endpoint"
                            )
                        key = _LOCAL_KEY
                    self._sdk_ = openai.OpenAI(api_key=key, base_url=base_url, timeout=self.timeout,
                                               max_retries=self.max_retries)
        return self._sdk_

    def _request_options(self, model: str, payload: list[dict[str, Any]], schema: dict[str, Any],
                         fmt: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": model, "messages": payload}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.max_tokens is not None:
            kwargs["max_tokens"] = self.max_tokens
        if fmt == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": SCHEMA_NAME, "schema": schema, "strict": True},
            }
        elif fmt == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _rejects_format(self, exc: openai.APIStatusError) -> bool:
        """Whether an error status means "this response_format is not supported" (so a weaker one may work).

        A 400, 422 or 5xx whose message names the response format counts (some servers answer 500 for an
        unknown format, after the SDK's retries); before any level has worked, so does any 400.
        """
        if exc.status_code == 400 and not self._format_confirmed_:
            return True
        if exc.status_code not in (400, 422) and exc.status_code < 500:
            return False
        text = f"{exc.message} {exc.body}".lower()
        return any(word in text for word in _FORMAT_WORDS)

    def _reply(self, completion: ChatCompletion, model: str, fmt: str, requests: int, latency: float) -> Reply:
        if not completion.choices:
            raise BackendError(f"{self._where()} returned no choices")
        choice = completion.choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise RefusalError(f"the model refused: {redact(str(refusal), self._key())}")
        if choice.finish_reason == "content_filter" and not choice.message.content:
            raise RefusalError("the endpoint's content filter withheld the reply")
        text = choice.message.content or ""
        usage = completion.usage
        tokens = Usage(
            prompt_tokens=int(usage.prompt_tokens or 0) if usage else 0,
            completion_tokens=int(usage.completion_tokens or 0) if usage else 0,
            requests=requests,
        )
        log.debug("chat reply: %d characters, finish_reason=%s, %.3f s", len(text), choice.finish_reason, latency)
        return Reply(text=text, model=completion.model or model, data=_json_object(text), usage=tokens,
                     latency_s=latency, response_format=fmt)

    # -- errors -----------------------------------------------------------------------------------------------

    def _where(self) -> str:
        base_url = self.base_url
        return _public_url(base_url) if base_url else "the OpenAI API"

    def _backend_error(self, exc: openai.OpenAIError) -> BackendError:
        """The genad error for an SDK error, its text redacted."""
        key = self._key()
        where = self._where()
        if isinstance(exc, openai.APITimeoutError):
            return BackendTimeoutError(f"{where} did not answer within {self.timeout} s "
                                       f"(after {self.max_retries} retries)")
        if isinstance(exc, openai.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "connection error"
            return BackendConnectionError(f"could not reach {where} ({cause}, after {self.max_retries} retries)")
        if isinstance(exc, openai.APIStatusError):
            detail = redact(_server_message(exc), key)
            if isinstance(exc, openai.RateLimitError):
                return RateLimitError(f"{where} kept answering HTTP 429 (rate limit) after {self.max_retries} "
                                      f"retries: {detail}")
            return BackendStatusError(f"{where} answered HTTP {exc.status_code}: {detail}", exc.status_code)
        return BackendError(f"{where}: {type(exc).__name__}: {redact(str(exc), key)}")


def _server_message(exc: openai.APIStatusError) -> str:
    """The server's own error message, shortened."""
    body = exc.body
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
    text = str(message) if message else exc.message
    return text if len(text) <= _MAX_SERVER_MESSAGE else text[:_MAX_SERVER_MESSAGE] + "..."


def _wire_message(message: Message, detail: str) -> dict[str, Any]:
    """A :class:`Message` in the chat-completions wire format (images as base64 data URLs)."""
    if message.role != "user":
        if message.images:
            raise InputError(f"only user messages can carry images, not {message.role!r} ones")
        return {"role": message.role, "content": message.text}
    if not message.images:
        return {"role": "user", "content": message.text}
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            url = f"data:{part.mime};base64,{base64.b64encode(part.data).decode('ascii')}"
            parts.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
        else:
            parts.append({"type": "text", "text": part})
    return {"role": "user", "content": parts}


def _json_object(text: str) -> dict[str, Any] | None:
    """The reply as a JSON object, or ``None`` when it is not exactly one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
