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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from genad._client import Reply
from genad._contract import ANSWER_SCHEMA, Answer, contract_text
from genad._messages import Message
from genad._parse import find_json_object, parse_answer
from genad._pipeline import Asked, Exchange, ask, load
from genad._report import AnomalyReport, Usage
from genad._task import Task
from genad._verify import verify
from genad.errors import ConfigurationError, InputError, ParseError

if TYPE_CHECKING:
    from genad._detector import Detector

__all__ = ["FOLLOWUP_SCHEMA", "Conversation", "FollowUp", "Turn"]

TurnKind = Literal["detect", "verify", "ask"]
T = TypeVar("T")


def _followup_schema() -> dict[str, Any]:
    schema = copy.deepcopy(ANSWER_SCHEMA)
    schema["properties"]["answer"] = {"type": "string"}
    schema["required"] = [*schema["required"], "answer"]
    return schema


FOLLOWUP_SCHEMA: dict[str, Any] = _followup_schema()
"""The answer contract plus ``"answer"``: the reply to the question in plain words."""


@dataclass(frozen=True)
class Turn:
    """One round of a conversation.

    Parameters
    ----------
    kind
        ``"detect"``, ``"verify"`` or ``"ask"``.
    question
        The text sent (empty for the first detection).
    reply
        The reply's text.
    usage
        What the round cost.
    """

    kind: TurnKind
    question: str
    reply: str
    usage: Usage


@dataclass(frozen=True, eq=False)
class FollowUp:
    """What a follow-up question gave.

    Parameters
    ----------
    answer
        The answer in plain words.
    report
        The updated report.
    """

    answer: str
    report: AnomalyReport


class Conversation:
    """The dialogue about one sample; made by :meth:`genad.Detector.converse`.

    Parameters
    ----------
    exchange
        What the VLM is shown (see :func:`genad._pipeline.prepare`).

    Attributes
    ----------
    report
        The latest verdict.
    turns
        Every round so far.
    messages
        The dialogue the next turn re-sends: the first prompt with its images, then alternating replies and
        questions.
    """

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._messages: list[Message] = list(exchange.messages)
        self._turns: list[Turn] = []
        self._report: AnomalyReport | None = None

    def __repr__(self) -> str:
        return f"Conversation(turns={len(self._turns)}, report={self._report!r})"

    @classmethod
    def resume(cls, detector: Detector, report: AnomalyReport, *, sample: Any = None, task: Task | None = None,
               category: str | None = None, references: Sequence[Any] = (), criteria: str | None = None,
               rules: Sequence[str] | None = None, modality: str | None = None) -> Conversation:
        """Take up a saved report: the next :meth:`ask` carries the report's images and its verdict.

        Pass the inputs of the original detection: the first prompt is rebuilt from them, and the report itself,
        written in the answer contract, stands for the earlier replies (so a verified or already discussed report
        is resumed as it ended).

        Parameters
        ----------
        detector
            The detector that answers (it needs a VLM).
        report
            The saved report.
        sample
            The inspected sample; defaults to the report's source path.
        task, category, references, criteria, rules, modality
            The rest of the original detection's inputs.

        Raises
        ------
        InputError
            When the report failed or has no source path and no ``sample`` is given.
        ConfigurationError
            When the detector runs in local mode.
        """
        if not report.ok:
            raise InputError("a failed report has no verdict to discuss")
        source = sample if sample is not None else report.source
        if source is None:
            raise InputError("pass sample=...: the report has no source path")
        task = Task.of(task, category=category, references=references, criteria=criteria, rules=rules)
        mode = detector.resolved_mode()
        if mode == "local":
            raise ConfigurationError("a conversation needs a VLM; this detector runs in local mode")
        client = detector.vlm_client()
        loaded, refs = load(source, task, modality or report.modality)
        expert = detector.expert_for(loaded.modality).score(loaded, refs) if mode == "hybrid" else None
        conversation = cls(detector.prepare(loaded, refs, task, mode=mode, client=client, expert_result=expert))
        text = conversation.exchange.answer_text(report)
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

    def open(self) -> AnomalyReport:
        """Send the first prompt and read the first verdict."""
        asked: Asked[Answer] = ask(self.exchange.client, self._messages)
        self._record("detect", "", asked.replies)
        self._report = self.exchange.read(asked.value, asked.replies, asked.error, asked.latency_s)
        return self._report

    def turn(self, kind: TurnKind, text: str, schema: dict[str, Any], read: Callable[[Reply], T], *,
             question: str | None = None) -> Asked[T]:
        """Send a text after the dialogue so far, read the reply and record the round.

        The report is left as it is.

        Parameters
        ----------
        kind
            The round's kind.
        text
            The user turn to send.
        schema
            The JSON schema the reply should follow.
        read
            Reads the reply (one re-ask on a :class:`~genad.errors.ParseError`).
        question
            Recorded as the round's question instead of ``text``, when given.
        """
        asked = ask(self.exchange.client, [*self._messages, Message("user", (text,))], schema, read)
        self._record(kind, text, asked.replies, question)
        return asked

    def ask(self, question: str) -> FollowUp:
        """Ask about the current report; the reply updates the verdict, regions and explanation.

        The question goes with every earlier turn and the same images. A reply that cannot be read even after
        one re-ask leaves the verdict as it was (with a note) and returns the reply's text as the answer.

        Parameters
        ----------
        question
            The question, in plain words.

        Raises
        ------
        InputError
            When the question is empty.
        """
        if not question.strip():
            raise InputError("the question is empty")
        before = self.report
        asked: Asked[Answer] = self.turn("ask", self._followup_text(question, before), FOLLOWUP_SCHEMA,
                                         _read_followup, question=question.strip())
        if asked.value is None:
            report = before.replace(notes=(*before.notes, f"the follow-up reply could not be read: {asked.error}"))
        else:
            report = self.exchange.read(asked.value, asked.replies, None, asked.latency_s)
            report = report.replace(notes=(*report.notes, f"follow-up question: {question.strip()}"))
        raw = "\n---\n".join(r.text for r in asked.replies)
        self._report = report.replace(usage=before.usage + asked.usage, raw=_joined(before.raw, raw),
                                      latency_s=before.latency_s + asked.latency_s)
        return FollowUp(_answer_text(asked.replies[-1]), self._report)

    def verify(self) -> AnomalyReport:
        """Check each claimed region against the references and criteria; drop the unsupported ones.

        See :mod:`genad._verify`. A normal verdict with no region is not checked (no extra request).
        """
        report, text, asked = verify(self.exchange, self._messages, self.report)
        if asked is not None:
            self._record("verify", text, asked.replies)
        self._report = report
        return report

    def _followup_text(self, question: str, report: AnomalyReport) -> str:
        """The user turn for a follow-up question: the question, the current regions by number, the contract."""
        lines = self.exchange.describe_regions(report.regions)
        listed = ("Regions in your last answer: " + "; ".join(lines) + "." if lines
                  else "Your last answer named no region.")
        context = self.exchange.context
        contract = contract_text(context.query.locate_hint, marks=context.marks is not None)
        return (f"Follow-up question about the inspected {context.query.noun}: {question.strip()} {listed} "
                "Look at the images again and answer the question, then give your updated verdict, repeating every "
                f"region that still holds. {contract} Add the key \"answer\": your reply to the question, in plain "
                "words.")

    def _record(self, kind: TurnKind, text: str, replies: Sequence[Reply], question: str | None = None) -> None:
        """Append a round: the user text (if any) and the last reply join the dialogue; usage counts every reply."""
        if text:
            self._messages.append(Message("user", (text,)))
        self._messages.append(Message("assistant", (replies[-1].text,)))
        self._turns.append(Turn(kind, question if question is not None else text, replies[-1].text,
                                sum((r.usage for r in replies), Usage())))


def _read_followup(reply: Reply) -> Answer:
    return parse_answer(reply.text, reply.data)


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
