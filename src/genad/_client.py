"""The client seam: a :class:`VLMClient` sends messages to a vision-language model and returns a :class:`Reply`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from genad._messages import Message
from genad._report import Usage

__all__ = ["Reply", "VLMClient"]


@dataclass(frozen=True)
class Reply:
    """What came back from a VLM.

    Parameters
    ----------
    text
        The reply's text.
    model
        The model that answered.
    data
        The JSON object, when the server returned valid JSON.
    usage
        Tokens and requests spent.
    latency_s
        Seconds the request took.
    response_format
        What the server accepted: ``"json_schema"``, ``"json_object"`` or ``"text"``.
    cached
        Whether the reply came from a :class:`~genad.CachedClient`'s store.
    """

    text: str
    model: str
    data: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    response_format: str = "text"  # "json_schema", "json_object" or "text": what the server accepted
    cached: bool = False


@runtime_checkable
class VLMClient(Protocol):
    """Sends ``messages`` and asks for a reply matching the JSON ``schema`` (a JSON Schema dict).

    Implementations raise :class:`genad.errors.BackendError` subclasses on failure and never put
    credentials in messages, reprs or logs. ``model`` names the model for reports and cache keys.
    """

    @property
    def model(self) -> str: ...

    def complete(self, messages: list[Message], schema: dict[str, Any]) -> Reply: ...
