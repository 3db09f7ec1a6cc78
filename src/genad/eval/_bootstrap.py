"""Bootstrap intervals of ``genad eval``'s metrics, for any modality: resample records, recompute the metrics.

A category's records are resampled with replacement within each label (normal and anomalous separately, so every
resample keeps both classes and their counts), and the modality's own ``metrics()`` hook is recomputed on each
resample; the percentile interval of those values is the category's interval. The interval of a mean over
categories uses the same resamples: resample ``b`` of the mean is the mean of every category's resample ``b``.

Metrics that need only the records' scores and labels are recomputed on *light* records (no anomaly map, no mask,
frame or point labels), which is fast. Which metrics those are is found by asking the hook once on light records:
the keys it returns with the same values as on the full records. The others (pixel AUROC, AUPRO, frame AUROC...)
are resampled on the full records only when one call of the hook is fast enough for the time budget; otherwise they
get no interval and are listed in the result's ``skipped``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["BOOTSTRAP_BUDGET_S", "Resampled", "interval", "light_record", "resample_metrics", "timed"]

BOOTSTRAP_BUDGET_S = 20.0
"""Seconds a category may spend resampling the metrics that need the full records (masks, maps)."""


@dataclass
class Resampled:
    """A category's metric values on each bootstrap resample (one array of ``n`` values per metric key)."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def interval(self, key: str, confidence: float = 0.95) -> tuple[float, float] | None:
        return interval(self.values.get(key), confidence)


def interval(values: np.ndarray | None, confidence: float = 0.95) -> tuple[float, float] | None:
    """The percentile interval of the finite ``values``; ``None`` without enough of them."""
    if values is None:
        return None
    finite = values[np.isfinite(values)]
    if finite.size < max(10, values.size // 2):
        return None
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def light_record(record: Any) -> Any:
    """The record without its dense ground truth and anomaly map: scores, verdicts, regions and labels stay."""
    item = replace(record.item, mask=None, frame_labels=None, point_labels=None)
    report = record.report.replace(anomaly_map=None) if record.report.anomaly_map is not None else record.report
    return replace(record, item=item, report=report)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    fa, fb = float(a), float(b)
    return (math.isnan(fa) and math.isnan(fb)) or fa == fb


def resample_metrics(
    metrics: Callable[[Sequence[Any]], dict[str, float]], records: Sequence[Any], point: dict[str, float],
    point_seconds: float, *, n_resamples: int = 200, seed: int = 0, budget_s: float = BOOTSTRAP_BUDGET_S,
) -> Resampled:
    """Each metric of ``point`` (the hook's values on ``records``, computed in ``point_seconds``) on
    ``n_resamples`` stratified resamples of ``records``.

    Categories with fewer than two records get no values (every resample would be the same).
    """
    out = Resampled()
    keys = [k for k, v in point.items() if v is not None and np.isfinite(v)]
    if n_resamples <= 0 or len(records) < 2 or not keys:
        return out
    rng = np.random.default_rng(seed)
    strata = [np.flatnonzero(np.asarray([r.item.label for r in records]) == label) for label in (0, 1)]
    draws = [np.concatenate([s[rng.integers(0, s.size, s.size)] for s in strata if s.size]) for _ in
             range(n_resamples)]

    light = [light_record(r) for r in records]
    try:
        light_point = metrics(light)
    except Exception:  # a hook that needs the dense ground truth for every key
        light_point = {}
    cheap = [k for k in keys if k in light_point and _same(light_point[k], point[k])]
    heavy = [k for k in keys if k not in cheap]
    if heavy and point_seconds * n_resamples > budget_s:
        out.skipped = heavy
        heavy = []
    for key in keys:
        out.values[key] = np.full(n_resamples, np.nan)
    for b, idx in enumerate(draws):
        if cheap:
            values = metrics([light[i] for i in idx])
            for k in cheap:
                out.values[k][b] = _float(values.get(k))
        if heavy:
            values = metrics([records[i] for i in idx])
            for k in heavy:
                out.values[k][b] = _float(values.get(k))
    for k in out.skipped:
        del out.values[k]
    return out


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def timed(metrics: Callable[[Sequence[Any]], dict[str, float]], records: Sequence[Any]) -> tuple[dict[str, float],
                                                                                                  float]:
    """``metrics(records)`` and the seconds it took."""
    start = time.perf_counter()
    values = metrics(records)
    return values, time.perf_counter() - start
