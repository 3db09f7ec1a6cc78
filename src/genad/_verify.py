"""Self-verification: a second turn checks each claimed region against the references and the normal criteria.

After the first verdict (``Detector(verify=True)``, or :meth:`genad._conversation.Conversation.verify`), the VLM
gets the whole first turn back, the claimed regions numbered, and the instruction to compare each with the same
place in the normal references and with the criteria and rules. It answers one JSON object::

    {"claims": [{"claim": 1, "supported": true, "reason": "..."}, ...],
     "is_anomalous": true, "score": 0.8, "anomaly_type": "scratch", "explanation": "..."}

The final report keeps the claims not marked ``"supported": false`` (all of them are dropped when the verdict
becomes normal), takes the verification's verdict, score and explanation, and notes each dropped claim with its
reason. Both turns stay in the report: ``raw`` holds both replies, ``usage`` their sum, ``prompt_strategy`` ends
in ``+verify``. A normal first verdict with no region is not checked, so it costs nothing extra. A verification
reply that cannot be read even after one re-ask leaves the first verdict in place, with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genad._client import Reply
from genad._contract import EmptyIfNone, EmptyListIfNone
from genad._messages import Message
from genad._parse import find_json_object
from genad._pipeline import Asked, Exchange, ask
from genad._report import AnomalyReport
from genad.errors import ParseError

__all__ = ["VERIFY_SCHEMA", "Claim", "Verification", "apply_verification", "read_verification",
           "verification_text", "verify"]

VERIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["claims", "is_anomalous", "score", "anomaly_type", "explanation"],
    "properties": {
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["claim", "supported", "reason"],
                "properties": {"claim": {"type": "integer"}, "supported": {"type": "boolean"},
                               "reason": {"type": "string"}},
            },
        },
        "is_anomalous": {"type": "boolean"},
        "score": {"type": "number"},
        "anomaly_type": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "explanation": {"type": "string"},
    },
}


class Claim(BaseModel):
    """The check of one claimed region (``claim`` is its 1-based number in the report)."""

    model_config = ConfigDict(extra="ignore")

    claim: int
    supported: bool
    reason: Annotated[str, EmptyIfNone] = ""


class Verification(BaseModel):
    """The verification turn's answer."""

    model_config = ConfigDict(extra="ignore")

    claims: Annotated[list[Claim], EmptyListIfNone] = Field(default_factory=list)
    is_anomalous: bool
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    anomaly_type: str | None = None
    explanation: Annotated[str, EmptyIfNone] = ""


def verification_text(report: AnomalyReport, exchange: Exchange) -> str:
    """The verification turn's instruction for ``report``, in the prompt's image numbering."""
    context = exchange.context
    noun = context.query.noun
    n_refs = exchange.n_reference_images
    if n_refs:
        against = (f"the same place in the normal reference {noun} (image 1)" if n_refs == 1
                   else f"the same place in the normal reference {noun}s (images 1 to {n_refs})")
    else:
        what = f"a normal {context.category}" if context.category else "a normal sample"
        against = f"what {what} looks like"
    standards = []
    if context.criteria:
        standards.append(f"the criteria: {context.criteria.strip()}")
    if context.rules:
        standards.append("the rules: " + " ".join(f"{i}. {r.strip()}" for i, r in enumerate(context.rules, 1)))
    lines = exchange.describe_regions(report.regions)
    claims = ("The regions you claimed: " + "; ".join(lines) + "." if lines
              else "You claimed an anomaly but named no region; judge the whole inspected " + noun + ".")
    check = f"compare it with {against}" + (" and with " + " and ".join(standards) if standards else "")
    return (
        f"Check your answer before it is final. {claims} For each claimed region, {check}. A claim is supported "
        "only if that place clearly differs from normal in a way that counts as a defect; differences that also "
        "occur between normal samples (lighting, reflections, position, texture, noise) do not. Then give the "
        "verdict that follows from the supported claims. Answer with one JSON object and nothing else. Keys: "
        '"claims" (one item per claimed region: "claim" its number, "supported" true or false, "reason"); '
        '"is_anomalous" (true or false); "score" (0 to 1); "anomaly_type" (a short name, or null); '
        '"explanation" (the specific reason for the final verdict).'
    )


def read_verification(reply: Reply) -> Verification:
    """The :class:`Verification` in a reply; :class:`~genad.errors.ParseError` when there is none."""
    data = reply.data if reply.data is not None else find_json_object(reply.text)
    if data is None:
        raise ParseError("the verification reply holds no JSON object", reply.text)
    try:
        return Verification.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in exc.errors()[:3])
        raise ParseError(f"the verification reply does not match its contract ({problems})", reply.text) from None


def apply_verification(report: AnomalyReport, verification: Verification) -> AnomalyReport:
    """``report`` with the unsupported claims dropped and the verification's verdict, score and explanation."""
    by_number = {c.claim: c for c in verification.claims}
    notes = [f"verification named claim {n}, but there are {len(report.regions)} claims"
             for n in sorted(by_number) if not 1 <= n <= len(report.regions)]
    kept = []
    for k, region in enumerate(report.regions, 1):
        claim = by_number.get(k)
        if verification.is_anomalous and (claim is None or claim.supported):
            kept.append(region)
            continue
        why = claim.reason if claim is not None and claim.reason else "the verified verdict is normal"
        notes.append(f"verification dropped claim {k} ({region.label or region.kind}): {why}")
    verdict = verification.is_anomalous
    score = verification.score if verification.score is not None else float(verdict)
    notes.append(f"verification kept {len(kept)} of {len(report.regions)} claimed regions")
    return report.replace(
        is_anomalous=verdict, score=score, vlm_score=score, regions=tuple(kept),
        anomaly_type=(verification.anomaly_type or report.anomaly_type) if verdict else None,
        explanation=verification.explanation or report.explanation, notes=(*report.notes, *notes),
    )


def verify(exchange: Exchange, dialogue: Sequence[Message], report: AnomalyReport
           ) -> tuple[AnomalyReport, str, Asked[Verification] | None]:
    """The verification turn on ``report``, sent after ``dialogue`` (the first prompt and the replies so far).

    Returns the verified report, the turn's text and what was asked (``""`` and ``None`` when nothing needed
    checking: a failed report, or a normal verdict with no region). A reply that cannot be read even after one
    re-ask leaves the verdict as it was, with a note.
    """
    if not report.ok or not (report.is_anomalous or report.regions):
        return report, "", None
    text = verification_text(report, exchange)
    asked = ask(exchange.client, [*dialogue, Message("user", (text,))], VERIFY_SCHEMA, read_verification)
    if asked.value is not None:
        report = apply_verification(report, asked.value)
    else:
        report = report.replace(notes=(*report.notes, f"the verification reply could not be read: {asked.error}"))
    raw = "\n---\n".join(r.text for r in asked.replies)
    report = report.replace(
        usage=report.usage + asked.usage, raw=raw if not report.raw else f"{report.raw}\n---\n{raw}",
        latency_s=report.latency_s + asked.latency_s,
        prompt_strategy=f"{report.prompt_strategy}+verify" if report.prompt_strategy else "verify",
    )
    return report, text, asked
