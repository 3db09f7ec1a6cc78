"""The expert seam: an :class:`Expert` scores samples offline against normal references."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from genad._report import Region

__all__ = ["Expert", "ExpertResult", "scores_jointly"]

SampleT_contra = TypeVar("SampleT_contra", contravariant=True)


@dataclass(frozen=True, eq=False)
class ExpertResult:
    """A local expert's verdict on one sample.

    Parameters
    ----------
    score
        Calibrated to [0, 1] so that ``score >= 0.5`` means anomalous without a per-dataset threshold.
    raw_score
        The uncalibrated distance.
    anomaly_map
        Dense scores in native coordinates: ``(H, W)`` for images, ``(N,)`` for point clouds, ``(T,)`` for videos
        and series.
    regions
        The top candidate regions, most anomalous first, with ``source="expert"``.
    notes
        What a reader of the report should know (how the score was calibrated, what was clipped).
    confidence
        How far the verdict can be trusted, from 0 to 1 (``None``: not stated). Experts lower it when they had
        no or one reference, whose calibration is loose.
    meta
        Expert-specific extras (not serialised).
    """

    score: float
    raw_score: float
    anomaly_map: np.ndarray | None = None
    regions: tuple[Region, ...] = ()
    notes: tuple[str, ...] = ()
    confidence: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_anomalous(self) -> bool:
        """``score >= 0.5``."""
        return self.score >= 0.5


@runtime_checkable
class Expert(Protocol[SampleT_contra]):
    """Scores samples against normal references of the same kind (no references: zero-shot).

    The constructor only stores parameters; fitted state lives in attributes ending in ``_`` and is rebuilt on
    demand, so an expert pickles. Check one with :func:`genad.testing.check_expert`.
    """

    def score(self, sample: SampleT_contra, references: Sequence[SampleT_contra] = ()) -> ExpertResult:
        """Score one sample against ``references``."""
        ...

    def score_many(self, samples: Sequence[SampleT_contra],
                   references: Sequence[SampleT_contra] = ()) -> list[ExpertResult]:
        """Score a batch, one result per sample in order.

        With references this equals ``[score(s, references) for s in samples]``; without, an expert may score the
        batch's samples against each other (zero-shot mutual scoring), so ``detect_many`` hands it whole batches.
        An expert that also uses the batch with references says so with a ``joint_scoring(references: int) ->
        bool`` method (see :func:`scores_jointly`).
        """
        ...


def scores_jointly(expert: Any, references: int) -> bool:
    """Whether ``expert.score_many`` scores a batch with this many references jointly, each result depending on
    the other samples, so that ``detect_many`` and ``genad eval`` must hand it whole batches.

    The expert's ``joint_scoring(references)`` answers when it has one; otherwise batches without references are
    joint (zero-shot mutual scoring) and batches with references are not.
    """
    method = getattr(expert, "joint_scoring", None)
    return bool(method(references)) if callable(method) else references == 0
