"""The expert seam: an :class:`Expert` scores a sample offline against normal references."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from genad._report import Region

__all__ = ["Expert", "ExpertResult"]


@dataclass(frozen=True, eq=False)
class ExpertResult:
    """A local expert's verdict on one sample.

    ``score`` is calibrated to [0, 1] so that ``score >= 0.5`` means anomalous without a per-dataset threshold;
    ``raw_score`` is the uncalibrated distance. ``anomaly_map`` is dense and in native coordinates: ``(H, W)`` for
    images, ``(N,)`` for point clouds, ``(T,)`` for videos and series. ``regions`` are the top candidate regions,
    most anomalous first, with ``source="expert"``.
    """

    score: float
    raw_score: float
    anomaly_map: np.ndarray | None = None
    regions: tuple[Region, ...] = ()
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_anomalous(self) -> bool:
        return self.score >= 0.5


@runtime_checkable
class Expert(Protocol):
    """Scores one sample against normal references of the same kind (``references`` may be empty: zero-shot).

    An expert may also offer ``score_many(samples, references) -> list[ExpertResult]``; ``Detector.detect_many``
    then hands it the whole batch, which lets it score zero-shot samples against each other.
    """

    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult: ...
