"""The steps every detection takes, as plain functions: load, prepare the exchange, ask, read the answer.

    load -> expert (local, hybrid) -> prepare (render, marks, prompt + contract) -> ask (one re-ask) -> read

:class:`~genad.Detector` composes them for one sample, :mod:`genad._batch` for many, and
:class:`~genad.Conversation` and the verification turn reuse :func:`ask` and :class:`Exchange`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from genad._client import Reply, VLMClient
from genad._contract import ANSWER_SCHEMA, Answer, contract_text
from genad._expert import ExpertResult
from genad._ladder import PromptBuilder, PromptContext
from genad._messages import Message
from genad._parse import is_free_text, parse_answer
from genad._registry import load_sample
from genad._rendering import Renderer, Rendering, ViewRegion
from genad._report import AnomalyReport, Region, Usage
from genad._sample import Sample
from genad._task import Task
from genad.annotate import draw_marks
from genad.errors import ConfigurationError, ParseError

__all__ = ["Asked", "Exchange", "ask", "combine", "load", "local_report", "map_regions", "prepare", "with_contract"]

T = TypeVar("T")


def load(sample: Any, task: Task, modality: str | None = None) -> tuple[Sample, tuple[Sample, ...]]:
    """The typed sample and its typed references (each read as the sample's modality).

    Parameters
    ----------
    sample
        The sample as given (a path or an in-memory object).
    task
        The task whose ``references`` are loaded.
    modality
        The sample's modality; guessed when ``None``.
    """
    loaded = load_sample(sample, modality)
    return loaded, tuple(load_sample(r, loaded.modality) for r in task.references)


@dataclass(frozen=True, eq=False)
class Exchange:
    """What the VLM is shown for one sample, and what is needed to read its answers back into a report.

    Parameters
    ----------
    sample
        The inspected sample.
    mode
        ``"vlm"`` or ``"hybrid"``.
    client
        The client that answers.
    prompt_name
        The prompt builder's name, recorded in reports.
    context
        The renderings and the task (``context.marks`` is the marked copy in hybrid mode).
    messages
        The first prompt, contract included.
    mark_regions
        The expert's candidates behind the marks (mark ``k`` is ``mark_regions[k - 1]``).
    expert_result
        The expert's result in hybrid mode.
    """

    sample: Sample
    mode: str
    client: VLMClient
    prompt_name: str
    context: PromptContext
    messages: tuple[Message, ...]
    mark_regions: tuple[Region, ...] = ()
    expert_result: ExpertResult | None = None

    @property
    def n_reference_images(self) -> int:
        """Images before the inspected sample's in the prompt."""
        return sum(len(r.images) for r in self.context.references)

    def describe_regions(self, regions: Sequence[Region]) -> list[str]:
        """``"1. image 2, box [40, 30, 90, 80] 'cord' (confidence 0.70)"`` per region, in the prompt's terms."""
        out = []
        for k, region in enumerate(regions, 1):
            label = f" {region.label!r}" if region.label else ""
            confidence = f" (confidence {region.confidence:.2f})" if region.confidence is not None else ""
            out.append(f"{k}. {self._where(region)}{label}{confidence}")
        return out

    def answer_text(self, report: AnomalyReport) -> str:
        """A report as a reply in the answer contract, its regions in the prompt's image terms.

        Parameters
        ----------
        report
            The report to write.
        """
        regions = []
        for region in report.regions:
            view = next(iter(self._views(region)), None)
            regions.append({
                "image": self.n_reference_images + (view.view if view else region.view or 0) + 1,
                "box": [round(v, 1) for v in view.box] if view and view.box else None,
                "interval": list(view.interval) if view and view.interval else None,
                "cells": list(view.cells) if view and view.cells else None,
                "mark": None, "label": region.label, "confidence": region.confidence,
            })
        return json.dumps({"is_anomalous": report.is_anomalous, "score": report.score,
                           "anomaly_type": report.anomaly_type, "regions": regions, "rejected_marks": [],
                           "explanation": report.explanation})

    def read(self, answer: Answer | None, replies: Sequence[Reply], error: ParseError | None,
             latency_s: float) -> AnomalyReport:
        """The report for one answer.

        Parameters
        ----------
        answer
            The answer read, or ``None`` when no reply could be read.
        replies
            Every reply, re-asks included.
        error
            Why no reply could be read, when ``answer`` is ``None``.
        latency_s
            Seconds taken.
        """
        usage = sum((r.usage for r in replies), Usage())
        raw = "\n---\n".join(r.text for r in replies)
        model = self.client.model
        if answer is None:
            return AnomalyReport.failed(error or ParseError("no answer"), modality=self.sample.modality,
                                        source=self.sample.name, mode=self.mode, latency_s=latency_s).replace(
                usage=usage, raw=raw, model=model, prompt_strategy=self.prompt_name)
        regions, notes = map_regions(answer, self.context, self.mark_regions)
        if is_free_text(answer):
            notes += ("the reply was free text: the verdict was read from its wording and the score is a heuristic",)
        vlm_score = answer.score if answer.score is not None else float(answer.is_anomalous)
        expert = self.expert_result
        if expert is not None:
            score, verdict, regions = combine(expert, answer, regions, self.mark_regions)
            notes += expert.notes
        else:
            score, verdict = vlm_score, answer.is_anomalous
        return AnomalyReport(
            is_anomalous=verdict, score=score, anomaly_type=answer.anomaly_type, regions=tuple(regions),
            explanation=answer.explanation, modality=self.sample.modality, source=self.sample.name, mode=self.mode,
            model=model, prompt_strategy=self.prompt_name, usage=usage, latency_s=latency_s, raw=raw,
            expert_score=None if expert is None else expert.score, vlm_score=vlm_score, notes=tuple(notes),
            anomaly_map=None if expert is None else expert.anomaly_map,
        )

    def _views(self, region: Region) -> list[ViewRegion]:
        try:
            return self.context.query.to_views(region)
        except NotImplementedError:
            return []

    def _where(self, region: Region) -> str:
        views = self._views(region)
        if views:
            view = views[0]
            image = f"image {self.n_reference_images + view.view + 1}"
            if view.box is not None:
                return f"{image}, box [{', '.join(f'{v:.0f}' for v in view.box)}]"
            if view.interval is not None:
                return f"{image}, interval [{view.interval[0]:g}, {view.interval[1]:g}]"
            if view.cells:
                return f"{image}, cells {', '.join(str(c) for c in view.cells)}"
            return image
        if region.view is not None:
            return f"image {self.n_reference_images + region.view + 1}"
        return "the whole sample" if region.kind == "none" else f"{region.kind} region {region!r}"


def prepare(sample: Sample, references: Sequence[Sample], task: Task, *, mode: str, client: VLMClient,
            renderer: Renderer[Any], prompt: PromptBuilder, anomalies: str,
            expert_result: ExpertResult | None = None) -> Exchange:
    """Render the sample and its references, draw the expert's marks (hybrid), and build the first prompt.

    Parameters
    ----------
    sample, references
        The typed sample and its typed references.
    task
        The category, criteria and rules.
    mode
        ``"vlm"`` or ``"hybrid"``.
    client
        The client that answers.
    renderer
        Renders the sample and the references.
    prompt
        Builds the first prompt.
    anomalies
        The modality's phrase for its anomalies.
    expert_result
        The expert's result in hybrid mode; its regions are drawn as marks.
    """
    rendering = renderer.render(sample)
    marked: Rendering | None = None
    mark_notes: tuple[str, ...] = ()
    mark_regions: tuple[Region, ...] = ()
    if mode == "hybrid" and expert_result is not None and expert_result.regions:
        mark_regions = expert_result.regions
        marked = draw_marks(rendering, mark_regions, expert_result.anomaly_map)
        mark_notes = tuple(
            f"mark {i}: expert confidence {r.confidence:.2f}" if r.confidence is not None else f"mark {i}"
            for i, r in enumerate(mark_regions, 1)
        )
    context = PromptContext(
        query=rendering, references=tuple(renderer.render(r) for r in references), category=task.category,
        criteria=task.criteria, rules=tuple(task.rules), marks=marked, mark_notes=mark_notes, anomalies=anomalies,
    )
    return Exchange(sample=sample, mode=mode, client=client, prompt_name=prompt.name, context=context,
                    messages=tuple(with_contract(prompt.build(context), context)), mark_regions=mark_regions,
                    expert_result=expert_result)


def with_contract(messages: Sequence[Message], context: PromptContext) -> list[Message]:
    """Messages with the image listing and the JSON output contract appended to the last user message.

    Parameters
    ----------
    messages
        The prompt builder's messages.
    context
        What the builder was given; its ``parts`` are the images the messages must place, in order.

    Raises
    ------
    ConfigurationError
        When there is no user message, or the images are not those of ``context.parts`` in order.
    """
    out = list(messages)
    last = max((i for i, m in enumerate(out) if m.role == "user"), default=None)
    if last is None:
        raise ConfigurationError("the prompt builder returned no user message")
    images = [p for m in out for p in m.images]
    expected = [p for _, p in context.parts]
    if [(p.mime, p.data) for p in images] != [(p.mime, p.data) for p in expected]:
        raise ConfigurationError(f"the prompt builder must place the {len(expected)} images of context.parts, in "
                                 f"order; it placed {len(images)} images (see genad.testing.check_prompt_builder)")
    listing = " ".join(f"Image {i}: {caption}." for i, (caption, _) in enumerate(context.parts, 1))
    contract = contract_text(context.query.locate_hint, marks=context.marks is not None)
    out[last] = Message("user", (*out[last].content, f"{listing} {contract}"))
    return out


@dataclass(frozen=True, eq=False)
class Asked(Generic[T]):
    """What :func:`ask` got.

    Parameters
    ----------
    value
        The value read, or ``None`` if no reply could be read.
    replies
        Every reply.
    error
        Why no reply could be read.
    latency_s
        Seconds it took.
    """

    value: T | None
    replies: list[Reply]
    error: ParseError | None = None
    latency_s: float = 0.0

    @property
    def usage(self) -> Usage:
        """What every reply cost, added up."""
        return sum((r.usage for r in self.replies), Usage())


def ask(client: VLMClient, messages: Sequence[Message], schema: dict[str, Any] = ANSWER_SCHEMA,
        read: Callable[[Reply], T] | None = None) -> Asked[T]:
    """Send messages; when the reply cannot be read, re-ask once with the reason.

    The re-ask shows the model its reply and what was wrong with it.

    Parameters
    ----------
    client
        The client that answers.
    messages
        The dialogue to send.
    schema
        The JSON schema the reply should follow (default: the answer contract's).
    read
        Turns a :class:`~genad.Reply` into a value or raises :class:`~genad.errors.ParseError` (default: the
        answer contract).
    """
    reader: Callable[[Reply], Any] = read if read is not None else _read_answer
    start = time.perf_counter()
    reply = client.complete(list(messages), schema)
    try:
        return Asked(reader(reply), [reply], None, time.perf_counter() - start)
    except ParseError as first:
        retry = [*messages, Message("assistant", (reply.text,)),
                 Message("user", (f"That reply does not follow the contract ({first}). "
                                  "Answer again with only the JSON object.",))]
        second = client.complete(retry, schema)
        try:
            return Asked(reader(second), [reply, second], None, time.perf_counter() - start)
        except ParseError as exc:
            return Asked(None, [reply, second], exc, time.perf_counter() - start)


def _read_answer(reply: Reply) -> Answer:
    return parse_answer(reply.text, reply.data)


def map_regions(answer: Answer, context: PromptContext,
                mark_regions: Sequence[Region]) -> tuple[list[Region], tuple[str, ...]]:
    """Map the VLM's regions back to the sample; note what was clipped, dropped or ignored.

    Parameters
    ----------
    answer
        The VLM's answer.
    context
        The renderings the VLM saw.
    mark_regions
        The expert's candidates behind the marks.

    Returns
    -------
    tuple
        The regions in the sample's coordinates, and the notes.
    """
    rendering = context.query
    n_refs = sum(len(r.images) for r in context.references)
    regions: list[Region] = []
    notes: list[str] = []
    n_query = len(rendering.images)
    for r in answer.regions:
        if r.dropped:
            notes.append(f"ignored {', '.join(r.dropped)} of a region on image {r.image}")
        if r.mark is not None:
            if 1 <= r.mark <= len(mark_regions):
                continue  # confirmed marks are resolved by the hybrid rule
            notes.append(f"dropped a region naming mark {r.mark}: there are {len(mark_regions)} marks")
            continue
        view = (r.image or n_refs + 1) - 1 - n_refs
        if context.marks is not None and n_query <= view < 2 * n_query:
            view -= n_query
        if view < 0:
            notes.append(f"dropped a region on image {r.image}: it is a normal reference")
            continue
        given = {"box": r.box, "interval": r.interval, "cells": r.cells}
        ignored = [k for k, v in given.items() if v is not None and k not in rendering.answer_fields]
        if ignored:
            notes.append(f"ignored {', '.join(ignored)} of a region on image {r.image}: "
                         f"{rendering.noun} regions are given as {' or '.join(rendering.answer_fields)}")
        usable = {k: (tuple(v) if k in rendering.answer_fields and v is not None else None) for k, v in given.items()}
        mapped = rendering.to_native(ViewRegion(view=view, label=r.label, confidence=r.confidence,
                                                **usable))  # type: ignore[arg-type]
        if mapped.note:
            notes.append(mapped.note)
        if mapped.region is not None:
            regions.append(mapped.region)
    return regions, tuple(notes)


def combine(expert: ExpertResult, answer: Answer, vlm_regions: list[Region],
            mark_regions: Sequence[Region]) -> tuple[float, bool, list[Region]]:
    """The hybrid rule: the expert proposes, the VLM decides.

    The VLM saw the expert's marks and confidences, so its verdict and score are the report's. Only when the reply
    was free text (the score is then a heuristic read from wording) is the score the mean of that heuristic and
    the expert's calibrated score, and the verdict that mean >= 0.5.
    Regions: marks the VLM confirmed (``source="hybrid"``), then regions the VLM added. Marks it rejected are
    dropped. If the verdict is anomalous and the VLM named no region at all, the marks it did not reject stay
    (``source="expert"``). The expert's own score is kept in ``AnomalyReport.expert_score``.

    Parameters
    ----------
    expert
        The expert's result.
    answer
        The VLM's answer.
    vlm_regions
        The regions the VLM added, in the sample's coordinates.
    mark_regions
        The expert's candidates behind the marks (mark ``k`` is ``mark_regions[k - 1]``).

    Returns
    -------
    tuple
        The score, the verdict and the regions.
    """
    vlm_score = answer.score if answer.score is not None else float(answer.is_anomalous)
    if is_free_text(answer):
        score = (expert.score + vlm_score) / 2.0
        verdict = score >= 0.5
    else:
        score, verdict = vlm_score, answer.is_anomalous
    confirmed = {r.mark: r for r in answer.regions if r.mark is not None and 1 <= r.mark <= len(mark_regions)}
    rejected = set(answer.rejected_marks)
    regions = [
        replace(mark_regions[k - 1], source="hybrid", label=r.label or mark_regions[k - 1].label,
                confidence=r.confidence if r.confidence is not None else mark_regions[k - 1].confidence)
        for k, r in sorted(confirmed.items()) if k not in rejected
    ]
    regions += vlm_regions
    if verdict and not regions:
        regions = [m for k, m in enumerate(mark_regions, 1) if k not in rejected]
    return score, verdict, regions


def local_report(sample: Sample, result: ExpertResult, latency_s: float) -> AnomalyReport:
    """The report of a local-mode detection: the expert's verdict, score, regions and map.

    Parameters
    ----------
    sample
        The scored sample.
    result
        The expert's result.
    latency_s
        Seconds taken.
    """
    found = f"{len(result.regions)} candidate region(s)" if result.regions else "no candidate region"
    explanation = (
        f"Local {sample.modality} expert: calibrated score {result.score:.3f} (raw {result.raw_score:.4g}; "
        f">= 0.5 means anomalous); {found}. No VLM was used."
    )
    return AnomalyReport(
        is_anomalous=result.is_anomalous, score=result.score, regions=result.regions, explanation=explanation,
        modality=sample.modality, source=sample.name, mode="local", model=None, prompt_strategy=None,
        latency_s=latency_s, expert_score=result.score, confidence=result.confidence,
        notes=(*result.notes, "no VLM was used"), anomaly_map=result.anomaly_map,
    )
