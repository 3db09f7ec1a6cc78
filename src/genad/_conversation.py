"""Multi-round dialogue about one detection: follow-up questions carrying the same images and the earlier turns.

>>> conversation = Detector(client=client).converse("bottle.png", references=["good.png"], category="bottle")
>>> conversation.report                                                    # doctest: +SKIP
>>> reply = conversation.ask("Look again at region 2: is it a scratch or a reflection?")  # doctest: +SKIP
>>> reply.answer, reply.report                                             # doctest: +SKIP

A saved report (``AnomalyReport.from_json``) can be taken up again with :meth:`Conversation.resume`.

Chat endpoints keep no state, so every turn re-sends the whole dialogue: the first prompt with its images, each
earlier question and each reply. Each turn's usage is added to the report's, so ``report.usage`` is what the whole
dialogue cost, and ``report.raw`` keeps every reply, separated by ``---`` lines.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from genad._client import Reply
from genad._contract import ANSWER_SCHEMA, contract_text
from genad._messages import Message
from genad._parse import find_json_object
from genad._report import AnomalyReport, Region, Usage
from genad.errors import ConfigurationError, InputError, ParseError

if TYPE_CHECKING:
    from genad._detector import Detector, Exchange

__all__ = ["FOLLOWUP_SCHEMA", "Conversation", "FollowUp", "Turn", "describe_regions", "report_as_answer"]

TurnKind = Literal["detect", "verify", "ask"]


def _followup_schema() -> dict[str, Any]:
    schema = copy.deepcopy(ANSWER_SCHEMA)
    schema["properties"]["answer"] = {"type": "string"}
    schema["required"] = [*schema["required"], "answer"]
    return schema


FOLLOWUP_SCHEMA: dict[str, Any] = _followup_schema()
"""The answer contract plus ``"answer"``: the reply to the question in plain words."""


@dataclass(frozen=True)
class Turn:
    """One round: its kind, the question asked (empty for the first detection), the reply text and its usage."""

    kind: TurnKind
    question: str
    reply: str
    usage: Usage


@dataclass(frozen=True, eq=False)
class FollowUp:
    """What a follow-up question gave: the answer in plain words and the updated report."""

    answer: str
    report: AnomalyReport


class Conversation:
    """The dialogue about one sample; made by :meth:`genad.Detector.converse`.

    ``report`` is the latest verdict, ``turns`` every round so far, ``messages`` the dialogue the next turn
    re-sends (the first prompt with its images, then alternating replies and questions).
    """

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._messages: list[Message] = list(exchange.messages)
        self._turns: list[Turn] = []
        self._report: AnomalyReport | None = None

    def __repr__(self) -> str:
        return f"Conversation(turns={len(self._turns)}, report={self._report!r})"

    @classmethod
    def resume(cls, detector: Detector, report: AnomalyReport, *, sample: Any = None, references: Sequence[Any] = (),
               category: str | None = None, criteria: str | None = None, rules: Sequence[str] | None = None,
               modality: str | None = None) -> Conversation:
        """Take up a saved report: the next :meth:`ask` carries the report's images and its verdict.

        Pass the inputs of the original detection (``sample`` defaults to the report's source path): the first
        prompt is rebuilt from them, and the report itself, written in the answer contract, stands for the earlier
        replies (so a verified or already discussed report is resumed as it ended).
        """
        from genad._registry import load_sample

        if not report.ok:
            raise InputError("a failed report has no verdict to discuss")
        source = sample if sample is not None else report.source
        if source is None:
            raise InputError("pass sample=...: the report has no source path")
        mode = detector.resolved_mode()
        if mode == "local":
            raise ConfigurationError("a conversation needs a VLM; this detector runs in local mode")
        loaded = load_sample(source, modality or report.modality)
        refs = tuple(load_sample(r, loaded.modality) for r in references)
        expert = detector._plugin("expert", loaded.modality).score(loaded, refs) if mode == "hybrid" else None
        conversation = cls(detector._exchange(loaded, refs, category, criteria, tuple(rules or ()), mode, expert))
        text = report_as_answer(report, conversation.exchange)
        conversation._messages.append(Message("assistant", (text,)))
        conversation._turns.append(Turn("detect", "", text, report.usage))
        conversation._report = report
        return conversation

    @property
    def report(self) -> AnomalyReport:
        if self._report is None:
            raise InputError("the conversation has not started: call open() first")
        return self._report

    @property
    def turns(self) -> tuple[Turn, ...]:
        return tuple(self._turns)

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    def open(self, *, started: float | None = None) -> AnomalyReport:
        """Send the first prompt and read the first verdict (``started``: when detection began, for latency)."""
        from genad._detector import _ask

        start = time.perf_counter() if started is None else started
        answer, replies, error = _ask(self.exchange.client, list(self._messages))
        report = self.exchange.report(answer, replies, error, time.perf_counter() - start)
        self._record("detect", "", None, replies)
        self._report = report
        return report

    def ask(self, question: str) -> FollowUp:
        """Ask about the current report; the reply updates the verdict, regions and explanation.

        The question goes with every earlier turn and the same images. A reply that cannot be read even after
        one re-ask leaves the verdict as it was (with a note) and returns the reply's text as the answer.
        """
        from genad._detector import _ask

        if not question.strip():
            raise InputError("the question is empty")
        before = self.report
        start = time.perf_counter()
        text = followup_text(question, before, self.exchange)
        messages = [*self._messages, Message("user", (text,))]
        answer, replies, error = _ask(self.exchange.client, messages, FOLLOWUP_SCHEMA)
        latency = time.perf_counter() - start
        usage = sum((r.usage for r in replies), Usage())
        raw = "\n---\n".join(r.text for r in replies)
        if answer is None:
            report = before.replace(notes=(*before.notes, f"the follow-up reply could not be read: {error}"))
        else:
            report = self.exchange.report(answer, replies, None, latency)
            report = report.replace(notes=(*report.notes, f"follow-up question: {question.strip()}"))
        report = report.replace(usage=before.usage + usage, raw=_joined(before.raw, raw),
                                latency_s=before.latency_s + latency)
        self._record("ask", text, question.strip(), replies)
        self._report = report
        return FollowUp(_answer_text(replies[-1]), report)

    def verify(self) -> AnomalyReport:
        """Check each claimed region against the references and criteria; drop the unsupported ones.

        See :mod:`genad._verify`. A normal verdict with no region is not checked (no extra request).
        """
        from genad._verify import verify_turn

        report = verify_turn(self)
        self._report = report
        return report

    # -- used by genad._verify ---------------------------------------------------------------------------------

    def _send(self, text: str, schema: dict[str, Any]) -> Reply:
        """Send one more user turn after the dialogue so far (not recorded: see :meth:`_record`)."""
        return self.exchange.client.complete([*self._messages, Message("user", (text,))], schema)

    def _record(self, kind: TurnKind, text: str, question: str | None, replies: Sequence[Reply]) -> None:
        """Append a round: the user text (if any) and the last reply join the dialogue; usage counts every reply."""
        if text:
            self._messages.append(Message("user", (text,)))
        self._messages.append(Message("assistant", (replies[-1].text,)))
        self._turns.append(Turn(kind, question if question is not None else text, replies[-1].text,
                                sum((r.usage for r in replies), Usage())))


def followup_text(question: str, report: AnomalyReport, exchange: Exchange) -> str:
    """The user turn for a follow-up question: the question, the current regions by number, the contract."""
    lines = describe_regions(report.regions, exchange)
    listed = ("Regions in your last answer: " + "; ".join(lines) + "." if lines
              else "Your last answer named no region.")
    contract = contract_text(exchange.context.query.locate_hint, marks=exchange.context.marks is not None)
    return (f"Follow-up question about the inspected {exchange.context.query.noun}: {question.strip()} {listed} "
            "Look at the images again and answer the question, then give your updated verdict, repeating every "
            f"region that still holds. {contract} Add the key \"answer\": your reply to the question, in plain words.")


def report_as_answer(report: AnomalyReport, exchange: Exchange) -> str:
    """``report`` as a reply in the answer contract, its regions in the prompt's image terms."""
    regions = []
    for region in report.regions:
        try:
            views = exchange.context.query.to_views(region)
        except NotImplementedError:
            views = []
        view = views[0] if views else None
        regions.append({
            "image": exchange.n_reference_images + (view.view if view else region.view or 0) + 1,
            "box": [round(v, 1) for v in view.box] if view and view.box else None,
            "interval": list(view.interval) if view and view.interval else None,
            "cells": list(view.cells) if view and view.cells else None,
            "mark": None, "label": region.label, "confidence": region.confidence,
        })
    return json.dumps({"is_anomalous": report.is_anomalous, "score": report.score,
                       "anomaly_type": report.anomaly_type, "regions": regions, "rejected_marks": [],
                       "explanation": report.explanation})


def describe_regions(regions: Sequence[Region], exchange: Exchange) -> list[str]:
    """``"1. image 2, box [40, 30, 90, 80] 'cord' (confidence 0.70)"`` per region, in the prompt's image terms."""
    out = []
    for k, region in enumerate(regions, 1):
        label = f" {region.label!r}" if region.label else ""
        confidence = f" (confidence {region.confidence:.2f})" if region.confidence is not None else ""
        out.append(f"{k}. {_where(region, exchange)}{label}{confidence}")
    return out


def _where(region: Region, exchange: Exchange) -> str:
    rendering = exchange.context.query
    try:
        views = rendering.to_views(region)
    except NotImplementedError:
        views = []
    if views:
        view = views[0]
        image = f"image {exchange.n_reference_images + view.view + 1}"
        if view.box is not None:
            return f"{image}, box [{', '.join(f'{v:.0f}' for v in view.box)}]"
        if view.interval is not None:
            return f"{image}, interval [{view.interval[0]:g}, {view.interval[1]:g}]"
        if view.cells:
            return f"{image}, cells {', '.join(str(c) for c in view.cells)}"
        return image
    if region.view is not None:
        return f"image {exchange.n_reference_images + region.view + 1}"
    return "the whole sample" if region.kind == "none" else f"{region.kind} region {region!r}"


def _answer_text(reply: Reply) -> str:
    """The ``"answer"`` of a follow-up reply, else the reply's whole text."""
    try:
        data = reply.data if reply.data is not None else find_json_object(reply.text)
    except ParseError:
        data = None
    answer = data.get("answer") if isinstance(data, dict) else None
    return answer.strip() if isinstance(answer, str) and answer.strip() else reply.text


def _joined(first: str | None, second: str) -> str:
    return second if not first else f"{first}\n---\n{second}"
