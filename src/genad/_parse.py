"""Reading a VLM reply as an :class:`~genad._contract.Answer`: the JSON contract first, plain language second.

:func:`parse_answer` takes the first of:

1. ``data``, the JSON object the client already decoded;
2. the reply as JSON, else the inside of a ```` ```json ```` fence, else the outermost ``{...}`` object in the text.

A JSON object that breaks the contract (``score`` outside [0, 1], no ``is_anomalous``, ...) or text that starts a
JSON object but does not decode raises :class:`~genad.errors.ParseError`, so the caller can re-ask. A reply with no
JSON at all goes to :func:`parse_free_text`, which reads the verdict from the wording.

How :func:`parse_free_text` reads a reply
-----------------------------------------
The text is cut into sentences, and sentences into clauses at ``;``, ``:`` and contrast words (but, however,
although, except, whereas, while, yet, otherwise). Each clause is evidence:

- **anomalous** when it names an anomaly word (anomaly, defect, damage, crack, lesion, opacity, outlier, ... see
  ``_ANOMALY_WORDS``) that no negator precedes in the clause, when it negates a normal-state or compliance word
  ("is not typical", "does not match the rules"), or names a mismatch ("instead of", "too close");
- **normal** when a negator (no, not, n't, without, free of, absence of, ...) precedes an anomaly word ("no visible
  defects", "does not appear to contain any anomalies"), or it states a normal state ("appears normal", "looks
  intact", "within normal limits", "in good condition") or compliance ("meets the requirement").

Clauses that do not answer are skipped: those weighing a question ("whether", "hard to say", "not clear",
"cannot determine") and those stating a norm rather than an observation ("should", "must", "is supposed to").
Normal evidence about the normal reference ("the first image ... is normal", unless the clause also names the
second image) or about only part of the sample ("the other candles look fine", "the rest ... show no defects") is
skipped too, as it does not speak for the whole query. Clauses of a concluding sentence after the first ("in
conclusion", "therefore", "thus", "overall", "based on ...") count twice; a reply that opens with "Yes" or "No"
counts that word three times.

The verdict is the side with more weight; on a tie, the last clause with evidence decides. With no evidence at
all there is no verdict and :class:`~genad.errors.ParseError` is raised.

The score is a heuristic, not a probability: with ``margin = |anomalous - normal| / (anomalous + normal)`` and
``hedged`` the share of the winning evidence in clauses with a hedge (may, might, could, possibly, potential,
slight, minor, suggest, if, ...), ``score = 0.5 ± (0.15 + 0.30 * margin) * (1 - 0.4 * hedged)``, ``+`` for an
anomalous verdict. A unanimous plain reply scores 0.95 (or 0.05), a fully hedged one 0.77 (0.23), and any score
is >= 0.5 exactly when the verdict is anomalous. ``anomaly_type`` is the first defect name (scratch, crack,
contamination, missing part, ...) in anomalous evidence, concluding sentences first, else ``None``;
``explanation`` is the reply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from genad._contract import Answer
from genad.errors import ParseError

__all__ = ["FreeTextAnswer", "find_json_object", "is_free_text", "parse_answer", "parse_free_text"]


class FreeTextAnswer(Answer):
    """An :class:`Answer` read from a reply without JSON by :func:`parse_free_text` (it has no regions)."""


def is_free_text(answer: Answer) -> bool:
    """Whether ``answer`` came from the lenient free-text reader rather than the JSON contract."""
    return isinstance(answer, FreeTextAnswer)


def parse_answer(text: str, data: dict[str, Any] | None = None) -> Answer:
    """Read a reply: ``data`` or the JSON object in ``text`` when there is one, else the wording of ``text``.

    Raises :class:`~genad.errors.ParseError` when the JSON breaks the contract or does not decode, or when a reply
    without JSON states no verdict.
    """
    obj = data if data is not None else find_json_object(text)
    if obj is None:
        return parse_free_text(text)
    try:
        return Answer.model_validate(obj)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'reply'}: {err['msg']}" for err in exc.errors()[:3]
        )
        raise ParseError(f"the reply's JSON does not match the contract ({problems})", text) from None


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_JSON_START = re.compile(r'\{\s*"|```\s*(?:json|JSON)')


def find_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a reply: the whole text, a fenced block, or the outermost ``{...}`` in prose.

    Returns ``None`` when the text holds no JSON; raises :class:`~genad.errors.ParseError` when it starts a JSON
    object that does not decode (truncated or malformed).
    """
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            obj = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            return obj
        start = text.find("{", start + 1)
    if _JSON_START.search(text):
        raise ParseError("the reply starts a JSON object that does not decode (malformed or cut off)", text)
    return None


# -- the lenient reader ---------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r"[;:]|\b(?:but|however|although|though|except|whereas|while|yet|otherwise|nevertheless)\b")

_NEGATORS = frozenset({"no", "not", "without", "none", "never", "nor", "neither", "cannot", "lack", "lacks",
                       "lacking", "absence", "absent", "free", "nothing"})

# Anomaly words, matched at the start of a token ("defect" matches "defects", "defective").
_ANOMALY_WORDS = re.compile(
    r"(?:anomal|defect|abnormal|irregular|damage|flaw|imperfect|fault|deviat|outlier|inconsisten|asymmetr"
    r"|unusual|atypical|mismatch|violat|incorrect|wrong|issue|problem|concern|suspicious|artifact|noise"
    r"|scratch|scuff|crack|hole|dent$|dents$|indentation|depression|contaminat|foreign|debris|residue|stain"
    r"|smudge|discolo|missing|broken|break|fractur|chip|bent$|deform|misshap|warp|misalign|misplac|displac"
    r"|slant|tilt|fray|torn$|tear$|tears$|bump|protrusion|lump|bulge|uneven|gap|void|excess|leak|burn"
    r"|pathol|lesion|tumou?r|mass$|masses$|hemorrhag|haemorrhag|opacit|infiltrat|consolidat|edema|oedema"
    r"|effusion|nodule|cyst|polyp|malignan|melanoma|ischemi|infarct|inflam|infect|pneumonia|swell|thicken"
    r"|hyperdens|hypodens|hyperintens|hypointens|hyper-reflect|hyperreflect|collid|collision|crash|accident"
    r"|altercation|aggress|differen)"
)
_MISMATCH = re.compile(r"\binstead of\b|\btoo (?:close|far|much|many|few|little|high|low|short|long|large|small|big)\b")
_NORMAL_STATE = re.compile(
    r"\b(?:is|are|was|were|be|appears?|seems?|looks?|remains?)\s+(?:to\s+be\s+)?(?:[a-z]+\s+){0,3}?"
    r"(?:normal|typical|intact|uniform|consistent|symmetric(?:al)?|clean|clear|fine|flawless|perfect|acceptable"
    r"|correct|regular|smooth|same)\b"
    r"|\bwithin normal limits\b|\bin (?:good|normal|perfect|proper|excellent|working) (?:condition|order|shape)\b"
    r"|\ba good sign\b"
    r"|\b(?:compl(?:y|ies|iant)|meets?|fulfil(?:l?s|ling|led)?|satisf(?:y|ies)|match(?:es)?|obey(?:s)?|conforms?"
    r"|adheres?|as per|as expected|as specified)\b"
)
_UNANSWERED = re.compile(
    r"\bwhether\b|\bshould\b|\bmust\b|\bought to\b|\bsupposed to\b"
    r"|\b(?:hard|difficult|challenging|impossible|not possible) to\b|\bnot clear\b|\bunclear\b"
    r"|\b(?:cannot|can't|unable to) (?:be )?(?:determine|tell|say|conclude)"
)
_REFERENCE = re.compile(r"\bfirst (?:[a-z-]+ ){0,3}?(?:image|one|picture|photo|scan)\b|\breference\b"
                        r"|\byou(?:'ve| have) (?:described|mentioned)|\bas you(?:'ve| have)? mentioned\b")
_QUERY = re.compile(r"\bsecond\b|\blast (?:image|one)\b")
_PART = re.compile(r"(?<!than )\b(?:the|all|every) (?:other|rest|remaining)\b")
_CONCLUSION = re.compile(r"\b(?:in conclusion|in summary|to sum up|to summari[sz]e|overall|therefore|thus|hence"
                         r"|consequently|so|based on)\b")
_HEDGE = re.compile(r"\b(?:may|might|could|possibl[ye]|potential(?:ly)?|perhaps|probabl[ye]|likely|slight(?:ly)?"
                    r"|minor|suggest(?:s|ive)?|if|depending)\b")
_OPENING = re.compile(r"^\W*(yes|no)\b(?!\s+(?:[a-z]+\s+){0,3}?(?:anomal|defect|abnormal|issue|problem))")

_TYPES: tuple[tuple[str, str], ...] = (
    (r"scratch|scuff", "scratch"),
    (r"crack|fractur", "crack"),
    (r"hole|puncture", "hole"),
    (r"dent$|dents$|indentation", "dent"),
    (r"contaminat|foreign|debris", "contamination"),
    (r"residue", "residue"),
    (r"stain|smudge", "stain"),
    (r"discolo", "discoloration"),
    (r"missing", "missing part"),
    (r"broken|break|chip", "broken part"),
    (r"bent$|deform|misshap|warp", "deformation"),
    (r"misalign|misplac|displac|slant|tilt", "misplacement"),
    (r"fray|torn$|tear$|tears$", "tear"),
    (r"bump|protrusion|lump|bulge", "protrusion"),
    (r"leak", "leak"),
    (r"burn", "burn"),
    (r"excess", "excess material"),
    (r"hemorrhag|haemorrhag", "hemorrhage"),
    (r"tumou?r|mass$|masses$", "tumor"),
    (r"lesion", "lesion"),
    (r"polyp", "polyp"),
    (r"opacit|infiltrat|consolidat|pneumonia", "opacity"),
    (r"edema|oedema|effusion", "fluid"),
    (r"outlier", "outlier"),
    (r"collid|collision|crash|accident", "collision"),
)
_TYPE_PATTERNS = tuple((re.compile(p), name) for p, name in _TYPES)


@dataclass(frozen=True)
class _Clause:
    anomalous: bool
    normal: bool
    weight: int
    hedged: bool
    anomaly_type: str | None


def parse_free_text(text: str) -> FreeTextAnswer:
    """Read a verdict, a heuristic score and a defect name from a reply in plain language (see the module doc).

    Raises :class:`~genad.errors.ParseError` when the reply states no verdict.
    """
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    clauses = [c for c in _clauses(lowered) if c.anomalous or c.normal]
    opening = _OPENING.match(lowered)
    if opening:
        says_yes = opening.group(1) == "yes"
        clauses.insert(0, _Clause(says_yes, not says_yes, 3, False, None))
    if not clauses:
        raise ParseError("the reply states no verdict: no JSON and no wording about anomalies or normality", text)
    anomalous = sum(c.weight for c in clauses if c.anomalous)
    normal = sum(c.weight for c in clauses if c.normal)
    verdict = anomalous > normal if anomalous != normal else clauses[-1].anomalous
    winning = [c for c in clauses if (c.anomalous if verdict else c.normal)]
    hedged = sum(c.weight for c in winning if c.hedged) / max(1, sum(c.weight for c in winning))
    margin = abs(anomalous - normal) / (anomalous + normal)
    shift = (0.15 + 0.30 * margin) * (1.0 - 0.4 * hedged)
    score = 0.5 + shift if verdict else 0.5 - shift
    by_weight = sorted(winning, key=lambda c: -c.weight)  # stable: concluding clauses first, then reading order
    anomaly_type = next((c.anomaly_type for c in by_weight if c.anomaly_type), None) if verdict else None
    return FreeTextAnswer(is_anomalous=verdict, score=round(score, 4), anomaly_type=anomaly_type,
                          explanation=text.strip())


def _clauses(lowered: str) -> list[_Clause]:
    out: list[_Clause] = []
    for i, sentence in enumerate(_SENTENCE.split(lowered)):
        weight = 2 if i > 0 and _CONCLUSION.search(sentence) else 1
        for clause in _CLAUSE.split(sentence):
            if clause.strip():
                out.append(_read_clause(clause, weight))
    return out


def _read_clause(clause: str, weight: int) -> _Clause:
    if _UNANSWERED.search(clause):
        return _Clause(False, False, weight, False, None)
    tokens = list(_TOKEN.finditer(clause))
    negation = next((t.start() for t in tokens if _is_negator(t.group())), None)

    def negated(position: int) -> bool:
        return negation is not None and negation < position

    anomalous = normal = False
    anomaly_type = None
    for token in tokens:
        if not _ANOMALY_WORDS.match(token.group()):
            continue
        if negated(token.start()):
            normal = True
        else:
            anomalous = True
            anomaly_type = anomaly_type or _type_of(token.group())
    if _MISMATCH.search(clause):
        anomalous = True
    for match in _NORMAL_STATE.finditer(clause):
        # negated only by a negator inside it or in the two words before ("is not typical", "does not match"),
        # so in "no dents, and the rim looks clean" the rim still looks clean
        inside = [t for t in tokens if match.start() <= t.start() < match.end()]
        before = [t for t in tokens if t.end() <= match.start()][-2:]
        if any(_is_negator(t.group()) for t in inside + before):
            anomalous = True
        else:
            normal = True
    if normal and (_PART.search(clause) or (_REFERENCE.search(clause) and not _QUERY.search(clause))):
        normal = False
    return _Clause(anomalous, normal, weight, bool(_HEDGE.search(clause)), anomaly_type)


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word.endswith("n't")


def _type_of(word: str) -> str | None:
    return next((name for pattern, name in _TYPE_PATTERNS if pattern.match(word)), None)
