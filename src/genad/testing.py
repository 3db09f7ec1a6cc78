"""Helpers for testing code that uses genad, and conformance checks for plug-in authors.

- :class:`ScriptedClient`: a :class:`~genad.VLMClient` that answers from a script, for tests without a server.
- One check per plug-in kind, in the spirit of scikit-learn's ``check_estimator``: :func:`check_modality`,
  :func:`check_renderer`, :func:`check_expert`, :func:`check_prompt_builder` and :func:`check_client`. Each
  raises ``AssertionError`` naming the broken rule, and returns what it made so a test can check more.
"""

from __future__ import annotations

import inspect
import json
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genad._client import Reply
from genad._contract import ANSWER_SCHEMA
from genad._expert import Expert, ExpertResult, scores_jointly
from genad._ladder import PromptBuilder, PromptContext
from genad._messages import ImagePart, Message
from genad._modality import Modality
from genad._pipeline import local_report, with_contract
from genad._rendering import Mapped, Renderer, Rendering, ViewRegion
from genad._report import Usage

__all__ = ["ScriptedClient", "check_client", "check_expert", "check_modality", "check_prompt_builder",
           "check_renderer"]

Responder = Callable[[list[Message]], "str | dict[str, Any] | BaseException"]


@dataclass
class ScriptedClient:
    """A :class:`~genad.VLMClient` that answers each call with the next scripted reply.

    Usage is counted as one prompt token per text character / 4 and 85 per image.

    Parameters
    ----------
    replies
        The replies in order: each a JSON-able dict, a text, or an exception to raise. A callable instead of a
        list is called with the messages and returns one such item.
    model
        The model name in replies.
    calls
        Every call's messages, kept in order.
    """

    replies: Iterable[str | dict[str, Any] | BaseException] | Responder
    model: str = "scripted"
    calls: list[list[Message]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = None if callable(self.replies) else list(self.replies)

    def complete(self, messages: list[Message], schema: dict[str, Any]) -> Reply:
        """The next scripted reply to ``messages`` (an exception item is raised).

        Raises
        ------
        AssertionError
            When the replies have run out.
        """
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


def check_renderer(renderer: Renderer[Any], sample: Any) -> Rendering:
    """Check that a renderer turns a sample into a well-formed, picklable :class:`~genad.Rendering`.

    Parameters
    ----------
    renderer
        The renderer to check.
    sample
        A typed sample it renders.

    Returns
    -------
    Rendering
        The rendering, so a test can check more.
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
    """Check that a client honours the :class:`~genad.VLMClient` contract against a live or fake endpoint.

    Sends one message with a text and a 16x16 image.

    Parameters
    ----------
    client
        The client to check.
    secret
        The API key, if given: it must not appear in the client's repr or in the text of any exception it raises.

    Returns
    -------
    Reply
        The client's reply.
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


def check_expert(expert: Expert[Any], normal: Any, anomalous: Any, references: Sequence[Any] = (), *,
                 map_shape: tuple[int, ...] | None = None) -> tuple[ExpertResult, ExpertResult]:
    """Check that ``expert`` honours the :class:`~genad.Expert` contract on one normal and one anomalous sample.

    Parameters
    ----------
    expert
        A new expert, not yet used.
    normal, anomalous
        Samples of the expert's modality; ``anomalous`` has a planted defect that ``references`` do not.
    references
        Normal references (may be empty for a zero-shot expert).
    map_shape
        The shape of an anomaly map in the sample's native coordinates (``(H, W)`` pixels, ``(N,)`` points,
        ``(T,)`` frames or rows), when known.

    Returns
    -------
    tuple of ExpertResult
        The results of the normal and the anomalous sample.

    Notes
    -----
    The rules: the constructor only stores its parameters (sklearn's convention: each argument is kept as an
    attribute of its name, and no fitted state, named with a trailing ``_``, exists before scoring); scores are
    in [0, 1] and the planted defect scores above the normal sample; the anomaly map has ``map_shape``; ``score``
    and ``score_many`` agree (with references, unless the expert's ``joint_scoring`` says it scores such batches
    jointly); scoring is deterministic; the expert pickles and scores the same after a round trip.
    """
    _check_stores_parameters(expert)
    first = [expert.score(normal, references), expert.score(anomalous, references)]
    for name, result in zip(("normal", "anomalous"), first, strict=True):
        assert isinstance(result, ExpertResult), f"score() must return an ExpertResult, not {type(result).__name__}"
        assert 0.0 <= result.score <= 1.0, f"the {name} sample's score {result.score} is outside [0, 1]"
        if map_shape is not None:
            assert result.anomaly_map is not None, f"the {name} sample has no anomaly map"
            assert result.anomaly_map.shape == map_shape, (
                f"the anomaly map is {result.anomaly_map.shape}, not {map_shape} (native coordinates)")
    assert first[1].score > first[0].score, (
        f"the planted defect scores {first[1].score:.3f}, not above the normal sample's {first[0].score:.3f}")
    again = [expert.score(normal, references), expert.score(anomalous, references)]
    assert [r.score for r in again] == [r.score for r in first], "scoring twice gives different scores"
    many = expert.score_many([normal, anomalous], references)
    assert len(many) == 2, "score_many() returns one result per sample"
    if references and not scores_jointly(expert, len(references)):
        assert np.allclose([r.score for r in many], [r.score for r in first], atol=1e-6), (
            "with references, score_many() must agree with score() (unless joint_scoring() says otherwise)")
    clone = pickle.loads(pickle.dumps(expert))
    assert np.allclose([clone.score(s, references).score for s in (normal, anomalous)],
                       [r.score for r in first], atol=1e-6), "the expert scores differently after pickling"
    return first[0], first[1]


def _check_stores_parameters(obj: Any) -> None:
    """sklearn's rule: ``__init__`` only stores its arguments, as attributes of the same names."""
    params = [p for p in inspect.signature(type(obj)).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for p in params:
        assert hasattr(obj, p.name), f"the constructor argument {p.name!r} is not stored as an attribute"
    fitted = [k for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("__") and v not in (None, {},
                                                                                                        [], ())]
    assert not fitted, f"fitted state exists before any scoring: {fitted}"
    rebuilt = type(obj)(**{p.name: getattr(obj, p.name) for p in params})
    for p in params:
        assert _same(getattr(rebuilt, p.name), getattr(obj, p.name)), (
            f"the constructor changes {p.name!r} instead of storing it")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(np.all(a == b)) if isinstance(a, np.ndarray) else bool(a == b)
    except (TypeError, ValueError):
        return a is b


def check_prompt_builder(builder: PromptBuilder, context: PromptContext | None = None) -> list[Message]:
    """Check that a prompt builder honours the :class:`~genad.PromptBuilder` contract.

    Parameters
    ----------
    builder
        The prompt builder to check.
    context
        What it builds from; defaults to one normal reference and one inspected image.

    Returns
    -------
    list of Message
        The messages with the pipeline's contract appended.

    Notes
    -----
    The rules: it has a name; it returns messages with at least one user message; it places the images of
    ``context.parts`` in that order (image ``k`` of an answer must be ``parts[k - 1]``); it leaves the output
    contract to the pipeline; it pickles.
    """
    if context is None:
        gray = Rendering(images=[np.full((32, 32, 3), 127, np.uint8)])
        spot = Rendering(images=[np.full((32, 32, 3), 127, np.uint8)])
        spot.images[0][10:14, 10:14] = 255
        context = PromptContext(query=spot, references=(gray,), category="part")
    assert isinstance(builder.name, str) and builder.name, "a prompt builder has a name"
    messages = builder.build(context)
    assert isinstance(messages, list) and all(isinstance(m, Message) for m in messages), (
        "build() returns a list of Message")
    assert any(m.role == "user" for m in messages), "build() returns at least one user message"
    assert not any("Answer with one JSON object" in m.text for m in messages), (
        "the builder must not write the output contract: the pipeline appends it")
    full = with_contract(messages, context)  # raises ConfigurationError when the images are not context.parts
    pickle.loads(pickle.dumps(builder))
    return full


def check_modality(modality: Modality[Any], sample: Any, *, expert: bool = True) -> Any:
    """Check that a modality honours the :class:`~genad.Modality` contract on one input.

    Parameters
    ----------
    modality
        The modality to check.
    sample
        A path or in-memory object of the modality.
    expert
        Also check that the default expert scores the sample.

    Returns
    -------
    object
        The loaded sample.

    Notes
    -----
    The rules: the name and suffixes are well formed; ``load`` returns a sample that names this modality and
    returns a loaded sample as it is; the default renderer passes :func:`check_renderer`; the default expert (when
    ``expert``) scores the sample; ``picture`` draws an RGB image; the modality pickles.
    """
    assert isinstance(modality.name, str) and modality.name.isidentifier(), "the name is a Python identifier"
    assert all(s.startswith(".") and s == s.lower() for s in modality.suffixes), "suffixes are lower case, with the dot"
    assert isinstance(modality.anomaly_phrase, str) and modality.anomaly_phrase, "anomaly_phrase is a phrase"
    assert isinstance(modality.coordinates, str) and modality.coordinates, "coordinates say what regions are in"
    loaded = modality.load(sample)
    assert getattr(type(loaded), "modality", None) == modality.name, (
        f"a loaded sample's class declares modality = {modality.name!r}")
    assert hasattr(loaded, "name"), "a loaded sample has a name (its path, or None)"
    assert modality.load(loaded) is loaded, "load() returns a loaded sample as it is"
    modality.check_dependencies("sample")
    check_renderer(modality.default_renderer(), loaded)
    report = None
    if expert:
        modality.check_dependencies("expert")
        result = modality.default_expert().score(loaded, ())
        assert isinstance(result, ExpertResult), "the default expert returns an ExpertResult"
        report = local_report(loaded, result, 0.0)
    if report is not None:
        picture = modality.picture(report, loaded)
        assert isinstance(picture, np.ndarray) and picture.dtype == np.uint8 and picture.ndim == 3, (
            "picture() returns an RGB uint8 image")
    assert pickle.loads(pickle.dumps(modality)).name == modality.name, "the modality pickles"
    return loaded
