"""Detection metrics: image, pixel, frame, point and range-based, built on scikit-learn where it has them.

Every function returns ``nan`` when the metric is undefined (a single class in the ground truth), so a
category with only anomalous samples reports ``nan`` AUROC instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from genad.errors import InputError

if TYPE_CHECKING:
    from genad._report import AnomalyReport

__all__ = [
    "aupro",
    "auroc",
    "auroc_ci",
    "auroc_of_groups",
    "average_precision",
    "bootstrap_ci",
    "dense_scores",
    "f1_max",
    "flagged_ranges",
    "frame_auroc",
    "pixel_auroc",
    "point_auroc",
    "range_precision_recall_f1",
    "ranges_from_binary",
    "score_map",
]


def _binary(labels: np.ndarray | Sequence[int]) -> np.ndarray:
    y = np.asarray(labels).ravel()
    return (y != 0).astype(np.int8)


def _check(labels: np.ndarray, scores: np.ndarray) -> bool:
    if labels.shape != scores.shape:
        raise InputError(f"labels {labels.shape} and scores {scores.shape} differ in shape")
    if not np.all(np.isfinite(scores)):
        raise InputError("scores contain NaN or infinite values")
    return np.unique(labels).size == 2


def auroc(labels: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float]) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``); ``nan`` with one class.

    Parameters
    ----------
    labels
        Ground truth: non-zero is anomalous.
    scores
        Higher is more anomalous.
    """
    y, s = _binary(labels), np.asarray(scores, dtype=np.float64).ravel()
    return float(roc_auc_score(y, s)) if _check(y, s) else float("nan")


def average_precision(labels: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float]) -> float:
    """Average precision (``sklearn.metrics.average_precision_score``); ``nan`` with one class.

    Parameters
    ----------
    labels
        Ground truth: non-zero is anomalous.
    scores
        Higher is more anomalous.
    """
    y, s = _binary(labels), np.asarray(scores, dtype=np.float64).ravel()
    return float(average_precision_score(y, s)) if _check(y, s) else float("nan")


def f1_max(labels: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float]) -> float:
    """The best F1 over all thresholds of the precision-recall curve; ``nan`` with one class.

    Parameters
    ----------
    labels
        Ground truth: non-zero is anomalous.
    scores
        Higher is more anomalous.
    """
    y, s = _binary(labels), np.asarray(scores, dtype=np.float64).ravel()
    if not _check(y, s):
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, s)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(f1.max())


def pixel_auroc(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> float:
    """AUROC over every pixel of every image.

    Parameters
    ----------
    masks
        Boolean ground-truth masks, one per image (normal images have all-false masks).
    maps
        Anomaly maps of the same shapes.
    """
    _same_shapes(masks, maps)
    if not masks:
        return float("nan")
    return auroc(np.concatenate([np.ravel(m) for m in masks]), np.concatenate([np.ravel(a) for a in maps]))


def aupro(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray], max_fpr: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve up to a false positive rate (MVTec AD definition).

    Parameters
    ----------
    masks
        Boolean ground-truth masks, one per image.
    maps
        Anomaly maps of the same shapes.
    max_fpr
        The false positive rate the curve is integrated up to.

    Notes
    -----
    For a threshold, PRO is the mean over all ground-truth connected components (8-connectivity, across all images)
    of the share of the component's pixels at or above it; FPR is the share of normal pixels (all images) at or
    above it. The PRO-vs-FPR curve is integrated with the trapezoid rule from 0 to ``max_fpr`` (interpolating at
    ``max_fpr``) and divided by ``max_fpr``, so a perfect map scores 1.
    """
    from scipy import ndimage
    from scipy.integrate import trapezoid

    _same_shapes(masks, maps)
    weights: list[np.ndarray] = []
    n_components = 0
    for m in masks:
        components, n = ndimage.label(np.asarray(m) != 0, structure=np.ones((3, 3), dtype=int))
        sizes = np.bincount(components.ravel(), minlength=n + 1).astype(np.float64)
        w = np.zeros(components.size)
        inside = components.ravel() > 0
        w[inside] = 1.0 / sizes[components.ravel()[inside]]
        weights.append(w)
        n_components += n
    if n_components == 0:
        return float("nan")
    region_weight = np.concatenate(weights) / n_components
    normal = np.concatenate([np.ravel(m) == 0 for m in masks])
    if not normal.any():
        return float("nan")
    scores = np.concatenate([np.ravel(a) for a in maps]).astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    scores, region_weight, normal = scores[order], region_weight[order], normal[order]
    pro = np.cumsum(region_weight)
    fpr = np.cumsum(normal) / normal.sum()
    last = np.append(scores[1:] != scores[:-1], True)  # one point per distinct threshold
    fpr, pro = np.concatenate([[0.0], fpr[last]]), np.concatenate([[0.0], pro[last]])
    cut = int(np.searchsorted(fpr, max_fpr, side="right"))
    x, y = fpr[:cut], pro[:cut]
    if x[-1] < max_fpr:
        y_at = np.interp(max_fpr, fpr, pro)
        x, y = np.append(x, max_fpr), np.append(y, y_at)
    return float(trapezoid(y, x) / max_fpr)


def _same_shapes(masks: Sequence[np.ndarray], maps: Sequence[np.ndarray]) -> None:
    if len(masks) != len(maps):
        raise InputError(f"{len(masks)} masks but {len(maps)} anomaly maps")
    for m, a in zip(masks, maps, strict=True):
        if np.shape(m) != np.shape(a):
            raise InputError(f"mask {np.shape(m)} and anomaly map {np.shape(a)} differ in shape")


def frame_auroc(frame_labels: Sequence[np.ndarray], frame_scores: Sequence[np.ndarray]) -> float:
    """AUROC over the frames of all clips pooled.

    Parameters
    ----------
    frame_labels
        0/1 per frame, one array per clip.
    frame_scores
        Scores per frame, of the same shapes.
    """
    _same_shapes(frame_labels, frame_scores)
    if not frame_labels:
        return float("nan")
    return auroc(np.concatenate([np.ravel(x) for x in frame_labels]),
                 np.concatenate([np.ravel(x) for x in frame_scores]))


def point_auroc(point_labels: Sequence[np.ndarray], point_scores: Sequence[np.ndarray]) -> float:
    """AUROC over the points of all clouds pooled.

    Parameters
    ----------
    point_labels
        0/1 per point, one array per cloud.
    point_scores
        Scores per point, of the same shapes.
    """
    return frame_auroc(point_labels, point_scores)


def ranges_from_binary(binary: np.ndarray | Sequence[int]) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` runs of non-zero values.

    Parameters
    ----------
    binary
        Values; non-zero ones form the runs.
    """
    b = np.concatenate([[0], (np.asarray(binary).ravel() != 0).astype(np.int8), [0]])
    d = np.diff(b)
    return [(int(s), int(e)) for s, e in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1, strict=True)]


def range_precision_recall_f1(
    truth: Sequence[tuple[int, int]], predicted: Sequence[tuple[int, int]], length: int, alpha: float = 0.0,
) -> tuple[float, float, float]:
    """Range-based precision, recall and F1 of Tatbul et al. (NeurIPS 2018), no point adjustment.

    Parameters
    ----------
    truth, predicted
        Real and predicted inclusive ``(start, end)`` ranges.
    length
        The series' length; every range must lie inside it.
    alpha
        The weight of detecting a real range at all in its recall.

    Returns
    -------
    tuple of float
        Precision, recall and F1.

    Notes
    -----
    Flat positional bias and cardinality factor 1: a real range's recall is
    ``alpha * [detected at all] + (1 - alpha) * |overlap| / |range|``; a predicted range's precision is
    ``|overlap| / |range|`` (existence weight 0, as the paper prescribes for precision). Recall averages over real
    ranges, precision over predicted ranges. With no real ranges recall is ``nan``; with no predicted ranges
    precision is ``nan`` (and F1 is 0 when there are real ranges).
    """
    truth_mask = _mask(truth, length)
    pred_mask = _mask(predicted, length)
    recalls = [alpha * bool(pred_mask[a:b + 1].any()) + (1 - alpha) * pred_mask[a:b + 1].mean() for a, b in truth]
    precisions = [truth_mask[a:b + 1].mean() for a, b in predicted]
    recall = float(np.mean(recalls)) if recalls else float("nan")
    precision = float(np.mean(precisions)) if precisions else float("nan")
    if not recalls:
        return precision, recall, float("nan")
    if not precisions or precision + recall == 0:
        return precision, recall, 0.0
    return precision, recall, 2 * precision * recall / (precision + recall)


def _mask(ranges: Sequence[tuple[int, int]], length: int) -> np.ndarray:
    m = np.zeros(length, dtype=bool)
    for a, b in ranges:
        if not 0 <= a <= b < length:
            raise InputError(f"range ({a}, {b}) outside a series of {length} points")
        m[a:b + 1] = True
    return m


def bootstrap_ci(statistic: Callable[..., float], *groups: Sequence[Any], n_resamples: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic, each group resampled on its own with replacement.

    Resampling groups separately keeps their sizes: pass the normal and the anomalous samples of a category as
    two groups so every resample has both classes, and several categories' groups to bound a mean over them.

    Parameters
    ----------
    statistic
        Called as ``statistic(*groups)``, with one list per group.
    *groups
        Sequences of resampling units (samples, clips, files).
    n_resamples
        Bootstrap resamples.
    confidence
        The interval's confidence level.
    seed
        Seeds the resampling.

    Returns
    -------
    tuple of float
        The interval's low and high ends; ``(nan, nan)`` when a group is empty or the statistic is undefined on
        the data.
    """
    from scipy.stats import bootstrap

    if not groups or any(len(g) == 0 for g in groups) or not np.isfinite(statistic(*groups)):
        return float("nan"), float("nan")
    units = [list(g) for g in groups]

    def on_indices(*indices: np.ndarray) -> float:
        return statistic(*([g[int(i)] for i in idx] for g, idx in zip(units, indices, strict=True)))

    result = bootstrap(tuple(np.arange(len(g)) for g in units), on_indices, n_resamples=n_resamples,
                       vectorized=False, confidence_level=confidence, method="percentile",
                       rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


def auroc_ci(labels: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float], *, n_resamples: int = 1000,
             confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of :func:`auroc`, resampling the normal and the anomalous samples separately.

    Parameters
    ----------
    labels, scores
        As for :func:`auroc`.
    n_resamples, confidence, seed
        As for :func:`bootstrap_ci`.
    """
    y, s = _binary(labels), np.asarray(scores, dtype=np.float64).ravel()
    if not _check(y, s):
        return float("nan"), float("nan")

    return bootstrap_ci(auroc_of_groups, s[y == 0].tolist(), s[y == 1].tolist(), n_resamples=n_resamples,
                        confidence=confidence, seed=seed)


def auroc_of_groups(normal: Sequence[float], anomalous: Sequence[float]) -> float:
    """AUROC from the scores of normal and of anomalous samples.

    The chance an anomalous one scores higher (ties count half). Equal to :func:`auroc`, and fast on small sets
    (pairwise comparison).

    Parameters
    ----------
    normal, anomalous
        The scores of the normal and of the anomalous samples.
    """
    a, n = np.asarray(anomalous, dtype=np.float64), np.asarray(normal, dtype=np.float64)
    if a.size == 0 or n.size == 0:
        return float("nan")
    if a.size * n.size > 4_000_000:
        return auroc(np.r_[np.zeros(n.size), np.ones(a.size)], np.r_[n, a])
    diff = a[:, None] - n[None, :]
    return float((np.count_nonzero(diff > 0) + 0.5 * np.count_nonzero(diff == 0)) / diff.size)


# ---------------------------------------------------------------- from reports to dense scores


def _region_fill(report: AnomalyReport) -> float:
    return float(report.score) if report.score is not None else 1.0


def score_map(report: AnomalyReport, shape: tuple[int, int]) -> np.ndarray:
    """A ``(H, W)`` float map of a report's scores.

    The report's anomaly map (resized if needed), else its regions painted with their confidence (masks, then
    boxes), else zeros.

    Parameters
    ----------
    report
        An image report.
    shape
        ``(H, W)`` of the map.
    """
    import cv2

    h, w = shape
    if report.anomaly_map is not None and np.ndim(report.anomaly_map) == 2:
        amap = np.asarray(report.anomaly_map, dtype=np.float32)
        if amap.shape != (h, w):
            amap = np.asarray(cv2.resize(amap, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
        return amap
    out = np.zeros((h, w), dtype=np.float32)
    for region in report.regions:
        value = region.confidence if region.confidence is not None else _region_fill(report)
        if region.mask is not None and region.mask.shape == (h, w):
            out[region.mask] = np.maximum(out[region.mask], value)
        elif region.box is not None:
            x0, y0, x1, y1 = (round(v) for v in region.box)
            x0, x1 = max(0, min(x0, x1)), min(w, max(x0, x1) + 1)
            y0, y1 = max(0, min(y0, y1)), min(h, max(y0, y1) + 1)
            out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], value)
    return out


def dense_scores(report: AnomalyReport, length: int) -> np.ndarray:
    """Per-position scores (frames, points or series rows) of a report.

    The anomaly map when it has ``length`` values, else intervals or point indices of the regions painted with
    their confidence, else zeros.

    Parameters
    ----------
    report
        The report.
    length
        The number of positions.
    """
    if report.anomaly_map is not None and np.size(report.anomaly_map) == length:
        return np.nan_to_num(np.asarray(report.anomaly_map, dtype=np.float64).ravel())
    out = np.zeros(length)
    for region in report.regions:
        value = region.confidence if region.confidence is not None else _region_fill(report)
        if region.interval is not None:
            a, b = max(0, int(region.interval[0])), min(length - 1, int(region.interval[1]))
            out[a:b + 1] = np.maximum(out[a:b + 1], value)
        elif region.indices is not None:
            idx = np.asarray(region.indices, dtype=np.int64)
            idx = idx[(idx >= 0) & (idx < length)]
            out[idx] = np.maximum(out[idx], value)
    return out


def flagged_ranges(report: AnomalyReport, length: int) -> list[tuple[int, int]]:
    """The intervals a report flags (none when it says normal).

    Parameters
    ----------
    report
        The report.
    length
        The number of positions; intervals are clipped to them.
    """
    if not report.ok or not report.is_anomalous:
        return []
    ranges = []
    for r in report.regions:
        if r.interval is not None:
            a, b = max(0, int(r.interval[0])), min(length - 1, int(r.interval[1]))
            if a <= b:
                ranges.append((a, b))
    return ranges
