"""Helpers for testing code that uses genad, and conformance checks for plug-in authors.

- :class:`ScriptedClient`: a :class:`~genad.VLMClient` that answers from a script, for tests without a server.
- :func:`check_renderer` and :func:`check_client`: assert that a plug-in honours its seam's contract, in the
  spirit of scikit-learn's ``check_estimator``. Each raises ``AssertionError`` naming the broken rule.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genad._client import Reply
from genad._contract import ANSWER_SCHEMA
from genad._messages import ImagePart, Message
from genad._rendering import Mapped, Renderer, Rendering, ViewRegion
from genad._report import Usage

__all__ = ["ScriptedClient", "check_client", "check_renderer"]

Responder = Callable[[list[Message]], "str | dict[str, Any] | BaseException"]


@dataclass
class ScriptedClient:
    """Answers each call with the next item of ``replies`` (a JSON-able dict, a text, or an exception to raise).

    A callable instead of a list is called with the messages and returns one such item. Every call's messages are
    kept in ``calls``. Usage is counted as one prompt token per text character / 4 and 85 per image.
    """

    replies: Iterable[str | dict[str, Any] | BaseException] | Responder
    model: str = "scripted"
    calls: list[list[Message]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = None if callable(self.replies) else list(self.replies)

    def complete(self, messages: list[Message], schema: dict[str, Any]) -> Reply:
        start = time.perf_counter()
        self.calls.append(list(messages))
        if self._queue is None:
            assert callable(self.replies)
            item = self.replies(messages)
        else:
            if not self._queue:
                raise AssertionError("ScriptedClient ran out of replies")
            item = self._queue.pop(0)
        if isinstance(item, BaseException):
            raise item
        text = json.dumps(item) if isinstance(item, dict) else item
        data = item if isinstance(item, dict) else None
        prompt_tokens = sum(len(m.text) // 4 + 85 * len(m.images) for m in messages)
        return Reply(text=text, model=self.model, data=data,
                     usage=Usage(prompt_tokens, len(text) // 4, 1), latency_s=time.perf_counter() - start)


def check_renderer(renderer: Renderer, sample: Any) -> Rendering:
    """Check that ``renderer`` turns ``sample`` into a well-formed, picklable :class:`~genad.Rendering`.

    Returns the rendering so a test can check more.
    """
    assert hasattr(renderer, "render"), "a renderer has a render(sample) method"
    rendering = renderer.render(sample)
    assert isinstance(rendering, Rendering), f"render() must return a Rendering, not {type(rendering).__name__}"
    assert rendering.images, "a rendering has at least one image"
    for i, image in enumerate(rendering.images):
        assert isinstance(image, np.ndarray), f"image {i} must be a NumPy array"
        assert image.dtype == np.uint8, f"image {i} must be uint8, not {image.dtype}"
        assert image.ndim == 3 and image.shape[2] == 3, f"image {i} must be (H, W, 3) RGB, not {image.shape}"
        assert min(image.shape[:2]) >= 1, f"image {i} is empty"
    assert not rendering.labels or len(rendering.labels) == len(rendering.images), (
        "labels must be empty or one per image"
    )
    assert isinstance(rendering.noun, str) and rendering.noun, "noun names the images for prompts"
    assert isinstance(rendering.locate_hint, str) and rendering.locate_hint, "locate_hint tells the VLM how to point"
    h, w = rendering.images[0].shape[:2]
    whole = ViewRegion(0, box=(0.0, 0.0, float(w), float(h)))
    try:
        mapped = rendering.to_native(whole)
        outside = rendering.to_native(ViewRegion(len(rendering.images), box=(0.0, 0.0, 1.0, 1.0)))
        projected = rendering.to_views(mapped.region) if mapped.region is not None else []
    except NotImplementedError as exc:
        raise AssertionError(f"the rendering must map regions both ways (to_native and to_views): {exc}") from None
    assert isinstance(mapped, Mapped), "to_native() returns a Mapped"
    assert mapped.region is not None, "a box covering the whole first image maps to a region of the sample"
    assert outside.region is None and outside.note, "a region on a missing image is dropped with a note"
    assert isinstance(projected, list), "to_views() returns a list of ViewRegion"
    assert all(isinstance(v, ViewRegion) for v in projected), "to_views() returns ViewRegion items"
    clone = pickle.loads(pickle.dumps(rendering))
    assert len(clone.images) == len(rendering.images), "a rendering pickles"
    pickle.loads(pickle.dumps(renderer))
    return rendering


def check_client(client: Any, *, secret: str | None = None) -> Reply:
    """Check that ``client`` honours the :class:`~genad.VLMClient` contract against a live or fake endpoint.

    Sends one message with a text and a 16x16 image. ``secret`` (the API key), if given, must not appear in the
    client's repr or in the text of any exception it raises.
    """
    assert isinstance(getattr(client, "model", None), str), "a client has a model name"
    if secret:
        assert secret not in repr(client), "the API key appears in the client's repr"
    image = ImagePart.from_array(np.full((16, 16, 3), 127, np.uint8))
    messages = [Message("user", (image, "Please determine whether the image contains anomalies or defects."))]
    try:
        reply = client.complete(messages, ANSWER_SCHEMA)
    except Exception as exc:
        if secret and secret in str(exc):
            raise AssertionError("the API key appears in an exception message") from None
        raise
    assert isinstance(reply, Reply), f"complete() must return a Reply, not {type(reply).__name__}"
    assert isinstance(reply.text, str), "Reply.text is a string"
    assert isinstance(reply.usage, Usage), "Reply.usage is a Usage"
    assert reply.latency_s >= 0.0, "Reply.latency_s is not negative"
    pickle.loads(pickle.dumps(client))
    return reply
