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

- **anomalous** when it names an anomaly word (anomaly, defect, damage, crack, lesion, opacity, outlier, ...) that
  no negator precedes in the clause, when it negates a normal-state or compliance word ("is not typical", "does
  not match the rules"), or names an excess ("too close");
- **normal** when a negator (no, not, n't, without, free, absence, ...) precedes an anomaly word ("no visible
  defects", "does not appear to contain any anomalies"), or it states a normal state ("appears normal", "looks
  intact", "appear to be in normal condition") or compliance ("meets the requirement").

Clauses that do not answer are skipped: those weighing a question ("whether", "hard to say", "unclear",
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

The vocabulary, and what it measures out of sample
--------------------------------------------------
The words and phrases are :class:`Term` entries of :data:`VOCABULARY`, each with a role (anomaly word, negator,
normal-state adjective, hedge, ...). Most are **general**: English for anomalies and common defect and finding
names (the MVTec AD / VisA defect types, radiology findings), negation, normal state, compliance, hedging,
contrast and conclusion: terms that belong on such a list without any reply at hand (the list was first written
while reading the study's replies; each term was then kept as general, or marked as added from replies, by that
criterion). The others were **added from replies** of the 26 cases of Cao et al. (2023, "GPT-4V takes the lead";
``../shared/data/paper_cases``): the anomaly words "concern*", "artifact*", "indentation*", "depression*",
"differen*" and "hyperdens*", "same" and "good" as normal states, and "other" and "rest" for part of the sample.
Two rules, both checked by ``tests/test_parse.py`` against the study's replies:

- a term added from replies stays only if replies of at least two different cases use it (the six replies of a
  case share an image and much wording, so two replies of one case do not count as two);
- no phrase (a term of several words), general or not, is used by the replies of exactly one case: a phrase
  either never occurs in the study's replies or occurs in two cases or more. Phrases that occurred in one case
  only ("within normal limits", "in good condition", "a good sign", "instead of", "in summary", "as per", "not
  clear", "you've mentioned", ...) were dropped, and so were words added from replies of one case ("slant*",
  "hyperintens*", "altercation*", ...). Words and the grammar around them (a normal-state adjective after
  "is/appears/looks ...", an adjective after "too") are not phrases.

:meth:`Vocabulary.chosen_on` applies the first rule to a subset of cases, so the vocabulary can be chosen on half
of the study and measured on the other half. ``benchmarks/parser_agreement.py`` does that with the cases split by
their order in ``cases.json`` (even: half A, odd: half B; no case in both). Agreement of the verdict with the one
the study records (the truth for replies marked correct, its opposite for replies marked incorrect; 74 of 77
replies, 3 are marked hedged), 95 % bootstrap intervals over replies: chosen on A, read B 26/33 = 0.79
[0.64, 0.91]; chosen on B, read A 39/41 = 0.95 [0.88, 1.00]; both held-out halves 65/74 = 0.88 [0.80, 0.95];
in-sample (the shipped vocabulary on all replies) 68/74 = 0.92 [0.85, 0.97]; the general terms alone 65/74. With
the vocabulary chosen on the other half, 3 of the 77 replies are read to no verdict (in-sample none). The reading
rules themselves (clause splitting, weights, skipped clauses) were written looking at all replies and are not
re-chosen per half, so the held-out figures still carry that much tuning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from genad._contract import Answer
from genad.errors import ParseError

__all__ = ["VOCABULARY", "FreeTextAnswer", "Term", "Vocabulary", "find_json_object", "is_free_text", "parse_answer",
           "parse_free_text"]


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

ROLES = ("contrast", "negator", "anomaly", "excess", "state_verb", "normal", "compliance", "unanswered",
         "difficulty", "inability", "judgement", "image", "reference", "query", "part", "conclusion", "hedge")


@dataclass(frozen=True)
class Term:
    """One entry of the free-text vocabulary: a word or phrase and the role it plays in a reply.

    ``text`` is a lower-case word or a phrase of words separated by spaces; a ``*`` at the end of a word stands for
    any ending (``defect*`` matches "defects" and "defective"), at its start for any beginning (``*n't``). Words
    match whole words: "uniform" does not match "non-uniform". ``general`` marks a term of general English for
    its role, one that belongs on the list without any reply at hand; ``False`` marks one added because replies
    used it, which :meth:`Vocabulary.chosen_on` keeps only when replies of enough cases use it.

    Roles: ``contrast`` (splits clauses), ``negator``, ``anomaly`` (a word naming an anomaly), ``excess`` (an
    adjective after "too"), ``state_verb`` and ``normal`` (a verb and a normal-state adjective,
    "looks ... intact"), ``compliance``, ``unanswered``, ``difficulty`` (before "to"), ``inability`` and
    ``judgement`` ("cannot ... determine"), ``image`` (after "first", for the normal reference), ``reference``,
    ``query`` (the queried image), ``part`` (after "the", "all" or "every": part of the sample), ``conclusion``,
    ``hedge``.
    """

    role: str
    text: str
    general: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")

    @property
    def is_phrase(self) -> bool:
        """Whether the term has more than one word."""
        return " " in self.text


def _terms(role: str, texts: str, *, general: bool = True) -> tuple[Term, ...]:
    return tuple(Term(role, t.strip(), general) for t in texts.split(","))


_GENERAL = (
    *_terms("contrast", "but, however, although, though, except, whereas, while, yet, otherwise, nevertheless"),
    *_terms("negator", "no, not, *n't, without, none, never, nor, neither, cannot, lack*, absence, absent, free, "
                       "nothing"),
    *_terms("anomaly", "anomal*, defect*, abnormal*, irregular*, damag*, flaw*, imperfect*, fault*, deviat*, outlier*, "
                       "inconsisten*, asymmetr*, unusual*, atypical*, mismatch*, violat*, incorrect*, wrong*, issue*, "
                       "problem*, suspicious*"),
    *_terms("anomaly", "scratch*, scuff*, crack*, hole, holes, dent, dents, dented, contaminat*, foreign, debris, "
                       "residue*, stain*, smudge*, discolo*, missing, broken, break*, fractur*, chip, chips, chipped, "
                       "bent, deform*, misshap*, warp*, misalign*, misplac*, displac*, fray*, torn, tear, tears, "
                       "bump*, protrusion*, lump*, bulge*, uneven*, excess*, leak*, burn*"),
    *_terms("anomaly", "patholog*, lesion*, tumor*, tumour*, mass, masses, hemorrhag*, haemorrhag*, opacit*, "
                       "infiltrat*, consolidat*, edema*, oedema*, effusion*, nodule*, cyst*, polyp*, malignan*, "
                       "melanoma*, ischemi*, ischaemi*, infarct*, inflam*, infect*, pneumonia*, swell*, thicken*"),
    *_terms("anomaly", "collision*, collid*, crash*, accident*"),
    *_terms("excess", "close, far, much, many, few, little, high, low, short, long, large, small, big"),
    *_terms("state_verb", "is, are, was, were, be, appear, appears, seem, seems, look, looks, remain, remains"),
    *_terms("normal", "normal, typical, intact, uniform, consistent, symmetric, symmetrical, clean, clear, fine, "
                      "flawless, perfect, acceptable, correct, regular, smooth"),
    *_terms("compliance", "comply, complies, compliant, meet, meets, fulfil*, fulfill*, satisf*, match, matches, "
                          "obey*, conform*, adhere*, as expected, as specified"),
    *_terms("unanswered", "whether, should, must, ought to, supposed to, unclear, not possible to"),
    *_terms("difficulty", "hard, difficult, challenging, impossible"),
    *_terms("inability", "cannot, can't, unable to"),
    *_terms("judgement", "determin*, tell, say, conclud*"),
    *_terms("image", "image, one, picture, photo, scan"),
    *_terms("reference", "reference"),
    *_terms("query", "second, last image, last one"),
    *_terms("conclusion", "in conclusion, to sum up, to summarize, to summarise, overall, therefore, "
                          "thus, hence, consequently, so, based on"),
    *_terms("hedge", "may, might, could, possibly, possible, potential, potentially, perhaps, probably, probable, "
                     "likely, slight, slightly, minor, suggest, suggests, suggestive, if, depending"),
)

# added after reading the study's replies: used only where replies of enough cases use them (Vocabulary.chosen_on)
_FROM_REPLIES = (
    *_terms("anomaly", "concern*, artifact*, indentation*, depression*, differen*, hyperdens*", general=False),
    *_terms("normal", "same, good", general=False),
    *_terms("part", "other, rest", general=False),
)

_BEFORE, _AFTER = r"(?<![a-z0-9])(?<![a-z0-9]-)", r"(?![a-z0-9])(?!-[a-z0-9])"
_SLOT = re.compile(r"@(\w+)")

# each pattern is a list of alternatives; @role is any term of that role, as a whole word or phrase
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "clause": (r"[;:]", "@contrast"),
    "negator": ("@negator",),
    "anomaly": ("@anomaly",),
    "excess": (r"\btoo\s+@excess",),
    "normal": (r"@state_verb\s+(?:to\s+be\s+)?(?:[a-z'-]+\s+){0,3}?@normal", "@compliance"),
    "unanswered": ("@unanswered", r"@difficulty\s+to\b", r"@inability\s+(?:be\s+)?@judgement"),
    "reference": (r"\bfirst\s+(?:[a-z'-]+\s+){0,3}?@image", "@reference"),
    "query": ("@query",),
    "part": (r"(?<!than )\b(?:the|all|every)\s+@part",),
    "conclusion": ("@conclusion",),
    "hedge": ("@hedge",),
}
# a reply opening with "Yes" or "No" (not "No defects ...", which is read as a clause)
_OPENING = r"^\W*(yes|no)(?![a-z0-9])(?!\s+(?:[a-z'-]+\s+){0,3}?@anomaly)"


def _term_pattern(text: str) -> str:
    words = []
    for word in text.split():
        pattern = re.escape(word.strip("*"))
        if word.startswith("*"):
            pattern = "[a-z0-9'-]*" + pattern
        if word.endswith("*"):
            pattern += "[a-z0-9'-]*"
        words.append(pattern)
    return r"\s+".join(words)


def _alternation(terms: Sequence[Term]) -> str:
    return "(?:" + "|".join(_term_pattern(t.text) for t in terms) + ")" if terms else "(?!)"


def _fill(template: str, by_role: Mapping[str, Sequence[Term]]) -> str:
    return _SLOT.sub(lambda m: _BEFORE + _alternation(by_role[m.group(1)]) + _AFTER, template)


class Vocabulary:
    """The terms :func:`parse_free_text` reads, compiled into the patterns it searches clauses for.

    Parameters
    ----------
    terms
        The :class:`Term` entries, of any roles; a role without terms never matches.
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.terms = tuple(terms)
        self._by_role: dict[str, list[Term]] = {role: [] for role in ROLES}
        for term in self.terms:
            self._by_role[term.role].append(term)
        self._patterns = {name: re.compile("|".join(_fill(a, self._by_role) for a in alternatives))
                          for name, alternatives in _TEMPLATES.items()}
        self._opening = re.compile(_fill(_OPENING, self._by_role))
        self._negator = re.compile(_alternation(self._by_role["negator"]))
        self._anomaly = re.compile(_alternation(self._by_role["anomaly"]))

    def matches(self, term: Term, text: str) -> bool:
        """Whether ``text`` uses ``term`` in its role: a pattern with the term in its slot (and this vocabulary's
        terms in the other slots) finds a match, e.g. a ``normal`` adjective only after a ``state_verb``."""
        by_role = {**self._by_role, term.role: [term]}
        lowered = _normalise(text)
        return any(re.search(_fill(alternative, by_role), lowered)
                   for alternatives in _TEMPLATES.values() for alternative in alternatives
                   if term.role in _SLOT.findall(alternative))

    def cases_using(self, term: Term, cases: Mapping[str, Sequence[str]]) -> set[str]:
        """The names of the cases (name -> replies) with at least one reply that :meth:`matches` ``term``."""
        return {name for name, replies in cases.items() if any(self.matches(term, r) for r in replies)}

    def chosen_on(self, cases: Mapping[str, Sequence[str]], min_cases: int = 2) -> Vocabulary:
        """The general terms and the terms added from replies that replies of ``min_cases`` or more of ``cases``
        (name -> replies) use: the vocabulary chosen on those cases alone."""
        return Vocabulary(t for t in self.terms if t.general or len(self.cases_using(t, cases)) >= min_cases)


VOCABULARY = Vocabulary(_GENERAL + _FROM_REPLIES)
"""The default vocabulary: every general term and every term added from replies (see the module doc)."""

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")

_TYPES: tuple[tuple[str, str], ...] = (
    (r"scratch|scuff", "scratch"),
    (r"crack|fractur", "crack"),
    (r"hole", "hole"),
    (r"dent$|dents$|dented$|indentation", "dent"),
    (r"contaminat|foreign|debris", "contamination"),
    (r"residue", "residue"),
    (r"stain|smudge", "stain"),
    (r"discolo", "discoloration"),
    (r"missing", "missing part"),
    (r"broken|break|chip", "broken part"),
    (r"bent$|deform|misshap|warp", "deformation"),
    (r"misalign|misplac|displac", "misplacement"),
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


def parse_free_text(text: str, vocabulary: Vocabulary = VOCABULARY) -> FreeTextAnswer:
    """Read a verdict, a heuristic score and a defect name from a reply in plain language (see the module doc).

    ``vocabulary`` is the default one unless a benchmark passes a restricted one. Raises
    :class:`~genad.errors.ParseError` when the reply states no verdict.
    """
    lowered = _normalise(text)
    clauses = [c for c in _clauses(lowered, vocabulary) if c.anomalous or c.normal]
    opening = vocabulary._opening.match(lowered)
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


def _normalise(text: str) -> str:
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def _clauses(lowered: str, vocabulary: Vocabulary) -> list[_Clause]:
    out: list[_Clause] = []
    patterns = vocabulary._patterns
    for i, sentence in enumerate(_SENTENCE.split(lowered)):
        weight = 2 if i > 0 and patterns["conclusion"].search(sentence) else 1
        for clause in patterns["clause"].split(sentence):
            if clause.strip():
                out.append(_read_clause(clause, weight, vocabulary))
    return out


def _read_clause(clause: str, weight: int, vocabulary: Vocabulary) -> _Clause:
    patterns = vocabulary._patterns
    if patterns["unanswered"].search(clause):
        return _Clause(False, False, weight, False, None)
    tokens = list(_TOKEN.finditer(clause))
    negation = next((t.start() for t in tokens if vocabulary._negator.fullmatch(t.group())), None)

    def negated(position: int) -> bool:
        return negation is not None and negation < position

    anomalous = normal = False
    anomaly_type = None
    for token in tokens:
        if not vocabulary._anomaly.fullmatch(token.group()):
            continue
        if negated(token.start()):
            normal = True
        else:
            anomalous = True
            anomaly_type = anomaly_type or _type_of(token.group())
    if patterns["excess"].search(clause):
        anomalous = True
    for match in patterns["normal"].finditer(clause):
        # negated only by a negator inside it or in the two words before ("is not typical", "does not match"),
        # so in "no dents, and the rim looks clean" the rim still looks clean
        inside = [t for t in tokens if match.start() <= t.start() < match.end()]
        before = [t for t in tokens if t.end() <= match.start()][-2:]
        if any(vocabulary._negator.fullmatch(t.group()) for t in inside + before):
            anomalous = True
        else:
            normal = True
    if normal and (patterns["part"].search(clause)
                   or (patterns["reference"].search(clause) and not patterns["query"].search(clause))):
        normal = False
    return _Clause(anomalous, normal, weight, bool(patterns["hedge"].search(clause)), anomaly_type)


def _type_of(word: str) -> str | None:
    return next((name for pattern, name in _TYPE_PATTERNS if pattern.match(word)), None)
