"""The local series expert: :class:`SeriesExpert` scores every point of a series, causally or offline.

Two evidence channels, computed per value column (the map of a multivariate series is the maximum over columns):

- **value**: how far a value leaves the range of recent values (causal: the last ``history`` values, and with a
  larger margin the last ``short_history`` values; offline: a robust deviation from its neighbours, the point itself
  excluded, in units of the residuals' median absolute deviation);
- **shape**: how far the last ``window`` values, as a piecewise-mean shape, are from their nearest neighbour among
  earlier shapes (causal) or all other shapes (offline) — a matrix-profile discord score computed with NumPy on
  piecewise aggregates, so no compiled dependency is needed.

Each channel becomes a surprise ``u >= 0`` where ``u = 1`` is the anomaly boundary, and the score is
``u / (1 + u)`` so that ``score >= 0.5`` means anomalous. Causally, a value is surprising by how much it exceeds
everything seen in the last ``history`` points, relative to that range (a *record*: scale-free, no threshold per
series); the shape distance is calibrated per stream by its *anomaly likelihood* (HTM / NAB): how improbable the
mean of its last 10 values is under the Gaussian of that mean over the last ``history`` points (or, optionally, by
a record like the value). The surprise is then ranked against the stream's own past:
an alarm is divided by one plus the number of earlier alarm events at least as surprising (the fifth burst of a
bursty stream counts for less than the first surprise of a calm one). Offline surprise divides robust z-scores by
``z_anomalous``.

Normal references (for example UCR's training prefix, SMAP's training arrays or SKAB's anomaly-free run) are used
when given: causally they are history before the first point; offline they set the robust scales and the shape
neighbours. A constant series scores 0 everywhere; NaN values score 0 and are bridged by the last finite value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from genad._confidence import params_of
from genad._expert import ExpertResult
from genad._report import Region
from genad.errors import InputError
from genad.modalities.series._confidence import TABLE
from genad.modalities.series._sample import SeriesSample

__all__ = ["SeriesExpert", "anomaly_likelihood", "cap_share", "causal_scores", "offline_scores", "quiet_repeats",
           "rank_discount"]

Mode = Literal["causal", "offline"]
ShapeCalibration = Literal["likelihood", "record"]
LIKELIHOOD_SMOOTH = 10  # points averaged before the likelihood (HTM's anomaly-likelihood averaging window)
LIKELIHOOD_LEARN = 300  # points of history before the likelihood's Gaussian is trusted
MAX_SHAPES = 4096  # offline neighbours searched per series (evenly spaced), which bounds the cost to O(T)


@dataclass(frozen=True)
class SeriesExpert:
    """Per-point anomaly scores for a :class:`~genad.modalities.series._sample.SeriesSample`.

    Regions are runs of points scoring ``>= 0.5``, runs closer than ``merge_gap`` points merged, none longer than
    ``max_share`` of the series (a longer run keeps that many points around its peak), at most ``max_regions``,
    most anomalous first.

    Parameters
    ----------
    mode
        ``"causal"`` makes the score at ``t`` depend only on values up to ``t`` (streaming; what NAB measures);
        ``"offline"`` uses the whole series.
    history
        Causal: how many past points a record (and the likelihood) looks back.
    window, segments
        The shape length and its number of piecewise means.
    value_margin
        Causal: the relative excess over the value record that counts as anomalous (surprise 1, score 0.5).
    shape_margin
        Causal, with ``shape_calibration="record"``: the shape distance's relative excess over its record that
        counts as anomalous.
    shape_calibration
        Causal: ``"likelihood"`` calibrates the shape distance by its :func:`anomaly_likelihood`; ``"record"``
        (the previous design, with ``short_margin=0.2``) makes it a record like the value instead.
    shape_level
        Causal: the ``-log10`` tail probability of the shape distance's :func:`anomaly_likelihood` that counts as
        anomalous.
    short_history, short_margin
        Causal: ``short_margin`` is the same as ``value_margin`` for a value record over the last
        ``short_history`` points only (regime changes: the old regime leaves that window sooner).
    alarm_gap
        Causal: alarms closer than this many points form one event. An alarm is divided by one plus the number
        of earlier events at least as surprising (:func:`rank_discount`), and every score within ``alarm_gap``
        points after the alarm that opened an event is halved (one event, one alarm).
    z_anomalous
        Offline: the robust z-score that counts as anomalous.
    warmup
        Causal: the first ``warmup + window`` points of the history (references, then the series) score 0.
    max_regions
        The most regions reported.
    merge_gap
        Runs of anomalous points closer than this many points are merged into one region.
    max_share
        Offline, at most about this share of the points stay anomalous (:func:`cap_share`); no region is longer
        than this share of the series.

    Notes
    -----
    The likelihood calibration, ``shape_level`` and ``short_margin`` were chosen on 16 NAB files of
    ``../shared/data`` (three categories) and tested on the other 24; the rest comes from an earlier design shaped
    on all 40 (docs/series.md). The same values serve every file.
    """

    mode: Mode = "offline"
    history: int = 2500
    window: int = 24
    segments: int = 8
    value_margin: float = 0.003
    shape_margin: float = 0.1
    shape_calibration: ShapeCalibration = "likelihood"
    shape_level: float = 8.0
    short_history: int = 500
    short_margin: float = 0.4
    alarm_gap: int = 20
    z_anomalous: float = 8.0
    warmup: int = 50
    max_regions: int = 5
    merge_gap: int = 10
    max_share: float = 0.1

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        """Each series scored on its own against the references (series are not scored against each other).

        Parameters
        ----------
        samples
            The series.
        references
            Normal reference series.
        """
        return [self.score(s, references) for s in samples]

    def score(self, sample: SeriesSample, references: Sequence[Any] = ()) -> ExpertResult:
        """Score every point; ``score`` is the maximum point score, ``anomaly_map`` the ``(T,)`` point scores.

        Parameters
        ----------
        sample
            The series (a :class:`~genad.modalities.series._sample.SeriesSample` or an array it is made from).
        references
            Normal reference series, with as many columns as the sample.

        Raises
        ------
        InputError
            When a reference's columns differ from the sample's, or for an unknown ``mode``.
        """
        if not isinstance(sample, SeriesSample):
            sample = SeriesSample.from_array(sample)
        refs = [r if isinstance(r, SeriesSample) else SeriesSample.from_array(r) for r in references]
        for r in refs:
            if r.n_channels != sample.n_channels:
                raise InputError(f"reference has {r.n_channels} columns, the sample {sample.n_channels}")
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):  # many small products: threads only add overhead
            per_column = [self._column(sample.values[:, c], [r.values[:, c] for r in refs])
                          for c in range(sample.n_channels)]
        surprise = np.max(per_column, axis=0)
        surprise[np.isnan(sample.values).all(axis=1)] = 0.0
        amap = surprise / (1.0 + surprise)
        if self.mode == "causal" and self.alarm_gap > 0:
            amap = quiet_repeats(amap, self.alarm_gap)
        top = int(np.argmax(amap))
        regions = self._regions(sample, amap)
        confidence, note = TABLE.confidence(params_of(self), "references" if refs else "series alone", float(amap[top]))
        notes = (f"mode={self.mode}",) + ((f"{len(refs)} normal reference(s)",) if refs else ()) + (note,)
        return ExpertResult(score=float(amap[top]), raw_score=float(surprise[top]), anomaly_map=amap,
                            regions=regions, notes=notes, confidence=confidence, meta={"argmax": top})

    def _column(self, x: np.ndarray, ref_values: list[np.ndarray]) -> np.ndarray:
        if self.mode == "causal":
            return causal_scores(x, ref_values, history=self.history, window=self.window, segments=self.segments,
                                 value_margin=self.value_margin, shape_margin=self.shape_margin,
                                 shape_calibration=self.shape_calibration, shape_level=self.shape_level,
                                 short_history=self.short_history, short_margin=self.short_margin,
                                 alarm_gap=self.alarm_gap, warmup=self.warmup)
        if self.mode == "offline":
            return offline_scores(x, ref_values, window=self.window, segments=self.segments,
                                  z_anomalous=self.z_anomalous, max_share=self.max_share)
        raise InputError(f"unknown mode {self.mode!r}; use 'causal' or 'offline'")

    def _regions(self, sample: SeriesSample, amap: np.ndarray) -> tuple[Region, ...]:
        longest = max(1, int(self.max_share * amap.size))
        hot = np.concatenate([[False], amap >= 0.5, [False]])
        edges = np.flatnonzero(np.diff(hot.astype(np.int8)))
        runs = [_around_peak(int(a), int(b) - 1, amap, longest) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        merged: list[list[int]] = []
        for run in runs:
            if merged and run[0] - merged[-1][1] <= self.merge_gap and run[1] - merged[-1][0] < longest:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        ranked = sorted(merged, key=lambda r: -float(amap[r[0]:r[1] + 1].max()))[: self.max_regions]
        return tuple(
            Region(interval=(a, b), span=(sample.label(a), sample.label(b)), label="series anomaly",
                   confidence=float(amap[a:b + 1].max()), source="expert")
            for a, b in ranked
        )


def _around_peak(start: int, end: int, amap: np.ndarray, longest: int) -> list[int]:
    """``[start, end]``, or, when longer than ``longest`` points, the ``longest`` points centred on its peak."""
    if end - start + 1 <= longest:
        return [start, end]
    peak = start + int(np.argmax(amap[start:end + 1]))
    first = min(max(start, peak - longest // 2), end - longest + 1)
    return [first, first + longest - 1]


def _filled(x: np.ndarray) -> np.ndarray:
    """NaN bridged by the last finite value (leading NaN by the first finite one)."""
    import pandas as pd

    return pd.Series(x).ffill().bfill().to_numpy(dtype=np.float64)


def _record_excess(y: np.ndarray, history: int, upper_only: bool = False) -> np.ndarray:
    """How far ``y[t]`` leaves the range of ``y[t-history:t]``, relative to that range (0 inside it)."""
    import pandas as pd

    s = pd.Series(y)
    hi = s.rolling(history, min_periods=1).max().shift(1)
    lo = s.rolling(history, min_periods=1).min().shift(1)
    span = (hi - lo).where(hi - lo > 0)
    above = (s - hi) / span
    out = above if upper_only else np.maximum(above, (lo - s) / span)
    return out.fillna(0.0).clip(lower=0.0).to_numpy(dtype=np.float64)


def _shape_features(x: np.ndarray, window: int, segments: int) -> np.ndarray:
    """Piecewise means of the ``window`` values ending at each point (row ``i`` ends at ``window - 1 + i``)."""
    width = max(1, window // segments)
    cum = np.concatenate([[0.0], np.cumsum(x)])
    ends = np.arange(width * segments - 1, x.size)
    cols = [(cum[ends - (segments - 1 - j) * width + 1] - cum[ends - (segments - j) * width + 1]) / width
            for j in range(segments)]
    return np.stack(cols, axis=1) if ends.size else np.empty((0, segments))


def _nearest_distance(queries: np.ndarray, candidates: np.ndarray, q_pos: np.ndarray | None = None,
                      c_pos: np.ndarray | None = None, min_gap: int = 0, chunk: int = 512) -> np.ndarray:
    """Euclidean distance from each query row to its nearest candidate row.

    With positions given, a candidate counts only if it is at least ``min_gap`` positions away from the query.
    NaN where no candidate counts.
    """
    out = np.full(queries.shape[0], np.nan)
    if candidates.shape[0] == 0:
        return out
    cand_sq = np.einsum("ij,ij->i", candidates, candidates)
    for a in range(0, queries.shape[0], chunk):
        q = queries[a:a + chunk]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + cand_sq[None, :] - 2.0 * q @ candidates.T
        if q_pos is not None and c_pos is not None:
            allowed = np.abs(q_pos[a:a + chunk, None] - c_pos[None, :]) >= min_gap
            d2 = np.where(allowed, d2, np.inf)
        best = d2.min(axis=1)
        out[a:a + chunk] = np.where(np.isfinite(best), np.sqrt(np.maximum(best, 0.0)), np.nan)
    return out


def _causal_shape_distance(x: np.ndarray, window: int, segments: int, history: int, block: int = 128) -> np.ndarray:
    """Distance of the shape ending at ``t`` to the nearest earlier shape that does not overlap it.

    Shapes are compared in blocks of ``block`` consecutive queries against the shapes that end at least ``window``
    points before the block's first query and at most ``4 * history`` before it (the bound keeps the cost linear).
    """
    feats = _shape_features(x, window, segments)
    start = x.size - feats.shape[0]
    dist = np.zeros(x.size)
    for a in range(0, feats.shape[0], block):
        lo, hi = max(0, a - window - 4 * history), a - window + 1
        if hi > lo:
            d = _nearest_distance(feats[a:a + block], feats[lo:hi], chunk=block)
            dist[start + a:start + a + block] = np.nan_to_num(d, nan=0.0)
    return dist


def quiet_repeats(scores: np.ndarray, gap: int) -> np.ndarray:
    """Halve every score within ``gap`` points after an alarm (``>= 0.5``) that opened an event (causal).

    An alarm opens an event when no event was opened in the ``gap`` points before it; the rest of the event, alarm
    or not, counts for half: one event, one alarm.

    Parameters
    ----------
    scores
        Point scores.
    gap
        The event's length after its opening alarm, in points.
    """
    out = scores.copy()
    last = -gap - 1
    for i in np.flatnonzero(scores >= 0.5):
        if i - last > gap:
            out[i + 1:i + gap + 1] *= 0.5
            last = int(i)
    return out


def rank_discount(surprise: np.ndarray, gap: int) -> np.ndarray:
    """Each alarm (``surprise >= 1``) divided by one plus the number of earlier alarm events at least as surprising.

    An event's surprise is its largest; an event does not count against itself. Causal: the result at ``t``
    depends on ``surprise[:t + 1]`` only.

    Parameters
    ----------
    surprise
        Surprise per point.
    gap
        Alarms closer than this many points form one event.
    """
    import bisect

    out = surprise.copy()
    past: list[float] = []  # surprises of finished events, sorted
    current = -1.0
    last = -gap - 1
    for i in np.flatnonzero(surprise >= 1.0):
        if i - last > gap and current >= 0:
            bisect.insort(past, current)
            current = -1.0
        last = int(i)
        value = float(surprise[i])
        out[i] = value / (1 + len(past) - bisect.bisect_left(past, value))
        current = max(current, value)
    return out


def anomaly_likelihood(raw: np.ndarray, history: int = 2500, smooth: int = LIKELIHOOD_SMOOTH,
                       learn: int = LIKELIHOOD_LEARN) -> np.ndarray:
    """How unusual the recent level of a raw surprise is for this stream (the anomaly likelihood of HTM / NAB).

    The result is ``-log10`` of the Gaussian upper tail probability of the mean of the last ``smooth`` values of
    ``raw`` under the mean and standard deviation of that mean over the ``history`` points before. Causal: the
    result at ``t`` depends on ``raw[:t + 1]`` only. It is 0 until ``learn`` points have been seen, and wherever
    the mean is not above its usual level. The standard deviation is floored at 1 % of the usual level, so a
    stream whose surprise never varied (a constant series) flags any rise.

    Parameters
    ----------
    raw
        The raw surprise per point.
    history
        Points the usual level is measured over.
    smooth
        Values averaged into the recent level.
    learn
        Points seen before the result is non-zero (at most ``history``).
    """
    import pandas as pd
    from scipy.special import log_ndtr

    learn = min(learn, history)
    level = pd.Series(raw).rolling(smooth, min_periods=1).mean()
    usual = level.rolling(history, min_periods=learn).mean().shift(1)
    spread = level.rolling(history, min_periods=learn).std().shift(1)
    z = ((level - usual) / np.maximum(spread, 0.01 * usual.abs() + 1e-300)).fillna(0.0).to_numpy()
    z = np.clip(z, 0.0, 1e6)
    return np.where(z > 0, -log_ndtr(-z) / np.log(10.0), 0.0)


def causal_scores(x: np.ndarray, references: Sequence[np.ndarray] = (), *, history: int = 2500, window: int = 24,
                  segments: int = 8, value_margin: float = 0.003, shape_margin: float = 0.1,
                  shape_calibration: ShapeCalibration = "likelihood", shape_level: float = 8.0,
                  short_history: int = 500, short_margin: float = 0.4, alarm_gap: int = 20,
                  warmup: int = 50) -> np.ndarray:
    """Causal surprise per point of one column (``>= 1`` is anomalous).

    Parameters
    ----------
    x
        The column's values.
    references
        Normal series, used as history before ``x``.
    history, window, segments, value_margin, short_history, short_margin, alarm_gap, warmup
        As for :class:`SeriesExpert`.
    shape_calibration, shape_level, shape_margin
        The shape distance is calibrated by its :func:`anomaly_likelihood` (``shape_level`` is the ``-log10`` tail
        probability that counts as anomalous) or, with ``shape_calibration="record"``, by its excess over its own
        record (``shape_margin`` of the record's range).
    """
    ref = [_filled(np.asarray(r, dtype=np.float64)) for r in references if np.isfinite(r).any()]
    full = np.concatenate([*ref, _filled(x)])
    full = full[max(0, full.size - x.size - 4 * history):]  # older history never reaches a record or a neighbour
    offset = full.size - x.size
    value = np.maximum(_record_excess(full, history) / value_margin,
                       _record_excess(full, short_history) / short_margin)
    distance = _causal_shape_distance(full, window, segments, history)
    if shape_calibration == "likelihood":
        shape = anomaly_likelihood(distance, history) / shape_level
    elif shape_calibration == "record":
        shape = _record_excess(distance, history, upper_only=True) / shape_margin
    else:
        raise InputError(f"unknown shape_calibration {shape_calibration!r}; use 'likelihood' or 'record'")
    surprise = np.maximum(value, shape)
    surprise[: warmup + window] = 0.0
    out = rank_discount(surprise, alarm_gap)[offset:]
    out[~np.isfinite(x)] = 0.0
    return out


def _robust_z(values: np.ndarray, center: float, scale_source: np.ndarray) -> np.ndarray:
    """``|values - center|`` in units of ``scale_source``'s MAD (its standard deviation when the MAD is 0; any
    deviation is infinite when both are 0)."""
    mad = float(np.median(np.abs(scale_source - np.median(scale_source))))
    if mad <= 0:
        spread = float(np.std(scale_source))
        mad = spread if spread > 0 else 0.0
    if mad == 0:
        return np.where(np.abs(values - center) > 0, np.inf, 0.0)
    return np.abs(values - center) / (1.4826 * mad)


def offline_scores(x: np.ndarray, references: Sequence[np.ndarray] = (), *, window: int = 24, segments: int = 8,
                   z_anomalous: float = 8.0, max_share: float = 0.1) -> np.ndarray:
    """Offline surprise per point of one column (``>= 1`` is anomalous), using the whole series (and references).

    Parameters
    ----------
    x
        The column's values.
    references
        Normal series; they set the robust scales and the shape neighbours.
    window, segments, z_anomalous
        As for :class:`SeriesExpert`.
    max_share
        The share of points that may stay anomalous (see the notes).

    Notes
    -----
    When more than ``max_share`` of the points would be anomalous by one channel (their value or their shape),
    that channel is divided by its ``1 - max_share`` quantile: the references (or the series itself) do not
    describe this series' normal, and what stands out is its most surprising ``max_share``. Each channel is capped
    on its own first, so a spike is not hidden by a long change of shape elsewhere in the series; then their
    union, so that together they keep to about ``max_share`` too.
    """
    import pandas as pd

    filled = _filled(x)
    ref = [_filled(np.asarray(r, dtype=np.float64)) for r in references if np.isfinite(r).any()]
    res = _neighbour_residual(filled)
    scale_source = np.concatenate([_neighbour_residual(r) for r in ref]) if ref else res
    value = _robust_z(res, 0.0, scale_source) / z_anomalous
    shape = np.zeros_like(filled)
    feats = _centred(_shape_features(filled, window, segments))
    if feats.shape[0] > 1:
        start = filled.size - feats.shape[0]
        if ref:
            ref_feats, ref_pos = _reference_shapes(ref, window, segments)
            dist = _nearest_distance(feats, ref_feats)
            some = _spread(np.arange(ref_feats.shape[0]), 1024)  # a sample of normal neighbour distances
            normal = _nearest_distance(ref_feats[some], ref_feats, ref_pos[some], ref_pos, min_gap=window)
        else:
            dist = _self_distance(feats, window)
            normal = dist
        normal = normal[np.isfinite(normal)]
        if normal.size and np.isfinite(dist).any():
            z = _robust_z(np.nan_to_num(dist, nan=0.0), float(np.median(normal)), normal)
            z[np.nan_to_num(dist, nan=0.0) <= np.median(normal)] = 0.0
            shape[start:] = z / z_anomalous
        # a shape covers its window: credit each point with the largest shape surprise covering it
        shape = pd.Series(shape[::-1]).rolling(window, min_periods=1).max().to_numpy()[::-1]
    value, shape = (cap_share(np.nan_to_num(c, posinf=1e6), max_share) for c in (value, shape))
    surprise = cap_share(np.maximum(value, shape), max_share)
    surprise[~np.isfinite(x)] = 0.0
    return surprise


def cap_share(surprise: np.ndarray, max_share: float) -> np.ndarray:
    """Surprise divided by its ``1 - max_share`` quantile when that exceeds 1.

    So at most about ``max_share`` of the points stay anomalous (``>= 1``).

    Parameters
    ----------
    surprise
        Surprise per point.
    max_share
        The share of points that may stay anomalous.
    """
    return surprise / max(1.0, float(np.quantile(surprise, 1.0 - max_share)))


def _neighbour_residual(v: np.ndarray, side: int = 3) -> np.ndarray:
    """``v`` minus the mean of the medians of the ``side`` values before and after each point (the point excluded:
    short enough to follow smooth curves, and a spike of one or two points cannot hide itself). The first and last
    points have neighbours on one side only and get residual 0."""
    import pandas as pd

    s = pd.Series(v)
    before = s.rolling(side, min_periods=1).median().shift(1)
    after = s[::-1].rolling(side, min_periods=1).median().shift(1)[::-1]
    return (s - (before + after) / 2).fillna(0.0).to_numpy()


def _self_distance(feats: np.ndarray, window: int) -> np.ndarray:
    """Each shape's distance to its nearest non-overlapping shape in the same set (a matrix profile on aggregates)."""
    n = feats.shape[0]
    cand = np.unique(np.linspace(0, n - 1, min(n, MAX_SHAPES)).astype(np.int64))
    return _nearest_distance(feats, feats[cand], np.arange(n), cand, min_gap=window)


def _centred(feats: np.ndarray) -> np.ndarray:
    """Shapes minus their own mean: offline, the value channel judges levels and the shape channel forms."""
    return feats - feats.mean(axis=1, keepdims=True)


def _reference_shapes(refs: Sequence[np.ndarray], window: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred shapes of all references (at most ``MAX_SHAPES``, evenly spaced) and their positions; references are
    placed ``window`` apart so that shapes of different references never count as overlapping."""
    feats, positions, offset = [], [], 0
    for r in refs:
        f = _centred(_shape_features(r, window, segments))
        feats.append(f)
        positions.append(offset + np.arange(f.shape[0]))
        offset += r.size + window
    keep = _spread(np.arange(sum(f.shape[0] for f in feats)), MAX_SHAPES)
    return np.concatenate(feats)[keep], np.concatenate(positions)[keep]


def _spread(rows: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows, evenly spaced."""
    if rows.shape[0] <= limit:
        return rows
    return rows[np.linspace(0, rows.shape[0] - 1, limit).astype(np.int64)]
