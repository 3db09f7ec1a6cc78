"""The study's prompt ladder (Cao et al. 2023, arXiv 2311.02782) as a :class:`PromptBuilder`.

Levels, each adding to the one before:

- ``"task"``: "Please determine whether the image contains anomalies or defects. If yes, give a specific reason."
- ``"class"``: names the category ("... the image given about the bottle ...").
- ``"expertise"``: appends human expertise (``criteria``: normal appearance, possible defects).
- ``"rules"``: numbered normal rules for logical anomalies ("... should obey the following rules: 1. ...").

Normal references turn any level into the k-shot form ("The first image is normal. Please determine whether the
second image ..."). Candidate marks from a local expert add the study's Set-of-Mark form ("The first image needs to
be inspected. The second image contains its corresponding marks."). ``"auto"`` picks the highest level the context
supports. A builder writes the study's wording and places the images; the pipeline then appends the image
listing and the JSON output contract (:func:`genad._pipeline.with_contract`), so no builder can forget them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol, runtime_checkable

from genad._messages import ImagePart, Message
from genad._rendering import Rendering

__all__ = ["LadderPrompt", "PromptBuilder", "PromptContext", "study_wording"]

Level = Literal["auto", "task", "class", "expertise", "rules"]
Domain = Literal["industrial", "medical"]

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


@dataclass(frozen=True, eq=False)
class PromptContext:
    """Everything a prompt may use.

    Parameters
    ----------
    query
        The inspected sample's rendering.
    references
        Renderings of normal samples.
    category, criteria, rules
        The study's class information, human expertise and normal rules (see :class:`~genad.Task`).
    marks
        The query rendering with the expert's candidate regions drawn as numbered marks (hybrid mode).
    mark_notes
        One description per mark (``"mark 1: expert confidence 0.91"``).
    anomalies
        The modality's phrase for its anomalies (``"anomalies or defects"``).
    """

    query: Rendering
    references: tuple[Rendering, ...] = ()
    category: str | None = None
    criteria: str | None = None
    rules: tuple[str, ...] = ()
    marks: Rendering | None = None
    mark_notes: tuple[str, ...] = ()
    anomalies: str = "anomalies or defects"

    @cached_property
    def parts(self) -> list[tuple[str, ImagePart]]:
        """Every image of the prompt, encoded once, with its caption, in the order the VLM must see them:
        the references, the inspected sample, then its marked copy. Image ``k`` of a VLM's answer is
        ``parts[k - 1]``."""
        return [
            *(part for i, ref in enumerate(self.references, 1) for part in _parts(ref, f"normal reference {i}")),
            *_parts(self.query, "inspected"),
            *(_parts(self.marks, "marks") if self.marks is not None else ()),
        ]


@runtime_checkable
class PromptBuilder(Protocol):
    """Builds the chat messages for one detection. Check one with :func:`genad.testing.check_prompt_builder`.

    A builder writes the wording and places the images of :attr:`PromptContext.parts`, in that order, in its
    messages; the pipeline appends the image listing and the output contract to the last user message.
    """

    @property
    def name(self) -> str:
        """A short name recorded in reports (``"ladder:auto"``)."""
        ...

    def build(self, context: PromptContext) -> list[Message]:
        """The chat messages for ``context``."""
        ...


def _plural(noun: str) -> str:
    return noun if noun.endswith("s") else noun + "s"


def _first(n: int, noun: str) -> str:
    return f"The first {noun}" if n == 1 else f"The first {n} {_plural(noun)}"


def _target(n_before: int, n: int, noun: str) -> str:
    if n_before == 0:
        return f"the {noun}" if n == 1 else f"the {n} {_plural(noun)}"
    if n == 1:
        return f"the {_ORDINALS[n_before]} {noun}" if n_before < len(_ORDINALS) else f"the last {noun}"
    return f"the last {n} {_plural(noun)}"


def _numbered(rules: tuple[str, ...]) -> str:
    text = " ".join(f"{i}. {r.strip()}" for i, r in enumerate(rules, 1))
    return text if text.endswith((".", "!", "?")) else text + "."


def study_wording(
    level: Level,
    *,
    noun: str = "image",
    n_references: int = 0,
    n_query: int = 1,
    category: str | None = None,
    criteria: str | None = None,
    rules: tuple[str, ...] = (),
    anomalies: str = "anomalies or defects",
    domain: Domain = "industrial",
) -> str:
    """The study's prompt text for one rung of the ladder (no output contract).

    ``n_references`` and ``n_query`` count images; the study had at most one of each, and more generalise its
    wording ("The first 3 images are normal. Please determine whether the last image ...").
    """
    verb = "contains" if n_query == 1 or noun.endswith("s") else "contain"
    target = _target(n_references, n_query, noun)
    be = "is" if n_references == 1 else "are"
    if level == "rules":
        about = f"The {noun} given about {category}" if category else f"The {noun} given"
        text = f"{about} should obey the following rules: {_numbered(rules)} "
        if n_references:
            ref = "meets" if n_references == 1 else "meet"
            text += f"{_first(n_references, noun)} {ref} all the standards and {be} normal. "
            return text + f"Please determine whether {target} {verb} {anomalies}. If yes, give a specific reason."
        given = "the given " + noun if n_query == 1 else target
        return text + f"Please determine whether {given} {verb} {anomalies}. If yes, give a specific reason."
    if domain == "medical":
        return _medical(level, n_references, noun, target, verb, category, criteria)
    about = f" given about the {category}" if level in ("class", "expertise") and category else ""
    text = ""
    if n_references:
        text = f"{_first(n_references, noun)}{about} {be} normal. "
    text += f"Please determine whether {target}{about} {verb} {anomalies}. If yes, give a specific reason."
    if level == "expertise" and criteria:
        text += " " + criteria.strip()
    return text


def _medical(level: Level, n_references: int, noun: str, target: str, verb: str,
             category: str | None, criteria: str | None) -> str:
    named = level in ("class", "expertise") and category
    if n_references:
        be = "is" if n_references == 1 else "are"
        first = _first(n_references, noun) + (f" of {category}" if named else "")
        given = " given" if named else ""
        text = f"{first} {be} normal. Please determine whether {target}{given} {verb} anomalies. " \
               "If yes, give a specific reason."
    elif named:
        assert category is not None
        subject = category if "image" in category.lower() else f"{category} image"
        text = f"Please determine whether this {subject} contains any anomalies. If yes, please give your reason."
    else:
        text = f"Please determine whether {target} {verb} anomalies. If yes, give a specific reason."
    if level == "expertise" and criteria:
        text += " " + criteria.strip()
    return text


def _marks_wording(n_references: int, noun: str, anomalies: str, domain: Domain) -> str:
    inspect = _ORDINALS[n_references] if n_references < len(_ORDINALS) else "next"
    marked = _ORDINALS[n_references + 1] if n_references + 1 < len(_ORDINALS) else "last"
    text = ""
    if n_references:
        text = f"{_first(n_references, noun)} {'is' if n_references == 1 else 'are'} normal. "
    target = f"the {inspect} {noun}" if n_references or domain == "medical" else f"the {noun}"
    text += (f"The {inspect} {noun} needs to be inspected. The {marked} {noun} contains its corresponding marks. "
             f"Please determine whether {target} contains {anomalies}. If yes, give a specific reason.")
    return text


@dataclass(frozen=True)
class LadderPrompt:
    """The study's ladder as a prompt builder; see the module docstring for the levels.

    Parameters
    ----------
    level
        ``"task"``, ``"class"``, ``"expertise"``, ``"rules"``, or ``"auto"``: the highest rung the task supports.
    domain
        ``"medical"`` uses the study's medical wording ("Please determine whether this head CT image contains any
        anomalies. If yes, please give your reason.").
    system
        A system message sent before the prompt, or ``None``.
    """

    level: Level = "auto"
    domain: Domain = "industrial"
    system: str | None = field(default=None)

    @property
    def name(self) -> str:
        return f"ladder:{self.level}" + (":medical" if self.domain == "medical" else "")

    def resolve_level(self, context: PromptContext) -> Level:
        """The rung used for this context (``"auto"`` becomes the highest one the context supports)."""
        if self.level != "auto":
            return self.level
        if context.rules:
            return "rules"
        if context.criteria:
            return "expertise"
        if context.category:
            return "class"
        return "task"

    def build(self, context: PromptContext) -> list[Message]:
        level = self.resolve_level(context)
        noun = context.query.noun
        n_refs = sum(len(r.images) for r in context.references)
        if context.marks is not None:
            text = _marks_wording(n_refs, noun, context.anomalies, self.domain) + _marks_context(level, context)
            notes = "; ".join(context.mark_notes)
            text += (f" The numbered marks are candidate regions found by a local anomaly detector ({notes}). "
                     "Confirm the marks that show a real anomaly, reject the others, and add any anomaly it missed.")
        else:
            text = study_wording(level, noun=noun, n_references=n_refs, n_query=len(context.query.images),
                                 category=context.category, criteria=context.criteria, rules=context.rules,
                                 anomalies=context.anomalies, domain=self.domain)
        content: tuple[str | ImagePart, ...] = (*(part for _, part in context.parts), text)
        messages = [Message("user", content)]
        if self.system:
            messages.insert(0, Message("system", (self.system,)))
        return messages


def _marks_context(level: Level, context: PromptContext) -> str:
    """The class, expertise and rules of the ladder's rung, as sentences after the Set-of-Mark wording."""
    text = ""
    if level != "task" and context.category:
        text += f" The {context.query.noun} is about the {context.category}."
    if level in ("expertise", "rules") and context.criteria:
        text += " " + context.criteria.strip()
    if level == "rules" and context.rules:
        text += f" It should obey the following rules: {_numbered(context.rules)}"
    return text


def _parts(rendering: Rendering, role: str) -> list[tuple[str, ImagePart]]:
    """Each image of a rendering, encoded, with a caption such as ``"inspected, view 2 (top)"``."""
    labels = rendering.labels if len(rendering.labels) == len(rendering.images) else [""] * len(rendering.images)
    return [(role + (f", {label}" if label else ""), ImagePart.from_array(image, format=rendering.image_format))
            for image, label in zip(rendering.images, labels, strict=True)]
