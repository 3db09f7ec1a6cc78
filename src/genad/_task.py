"""What a detection is asked about a sample: :class:`Task`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from genad.errors import InputError

__all__ = ["Task"]


@dataclass(frozen=True)
class Task:
    """The study's prompt ladder inputs for one detection, beside the sample itself.

    Parameters
    ----------
    category
        What the sample shows (``"bottle"``): the study's class information.
    references
        Normal samples of the same kind: paths, arrays or typed samples (one-shot, k-shot).
    criteria
        Human expertise: what normal looks like and which defects occur.
    rules
        Numbered normal rules for logical anomalies.

    Examples
    --------
    >>> Task(category="bottle", references=["good.png"]).rules
    ()
    """

    category: str | None = None
    references: Sequence[Any] = ()  # stored as a tuple
    criteria: str | None = None
    rules: Sequence[str] = ()  # stored as a tuple

    def __post_init__(self) -> None:
        if isinstance(self.references, (str, bytes)) or hasattr(self.references, "__fspath__"):
            raise InputError("references must be a list of samples, not one path")
        if isinstance(self.rules, str):
            raise InputError("rules must be a list of texts, not one text")
        object.__setattr__(self, "references", tuple(self.references))
        object.__setattr__(self, "rules", tuple(self.rules))
        if not all(isinstance(r, str) for r in self.rules):
            raise InputError("each rule must be a text")

    @classmethod
    def of(cls, task: Task | None = None, *, category: str | None = None, references: Sequence[Any] = (),
           criteria: str | None = None, rules: Sequence[str] | None = None) -> Task:
        """``task`` if given (the other arguments must then be left out), else a task of the arguments."""
        if task is None:
            return cls(category, tuple(references), criteria, tuple(rules or ()))
        if category is not None or references or criteria is not None or rules:
            raise InputError("pass either task=... or category/references/criteria/rules, not both")
        return task

    def replace(self, **changes: Any) -> Task:
        """A copy with some fields changed."""
        return replace(self, **changes)
