"""The time-series modality: univariate and multivariate series, regions as position intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from genad._modality import ModalityBase
from genad._report import AnomalyReport
from genad._sample import load_with
from genad.modalities.series._sample import SeriesSample

if TYPE_CHECKING:
    from genad.eval import EvalRecord
    from genad.modalities.series._expert import SeriesExpert
    from genad.modalities.series._render import SeriesRenderer

__all__ = ["SeriesModality", "modality"]


class SeriesModality(ModalityBase):
    """Time series, univariate and multivariate, regions as position intervals.

    They are rendered as line plots and scored by the signal-statistics
    :class:`~genad.modalities.series.SeriesExpert`.
    """

    name = "series"
    suffixes = (".csv", ".tsv", ".parquet")
    anomaly_phrase = "anomalies or outliner points"  # the study's wording for video and series prompts
    coordinates = "positions: inclusive (start, end) row intervals, with their index labels (timestamps)"

    def accepts(self, obj: object) -> bool:
        """pandas objects and 1-D arrays."""
        module = type(obj).__module__
        if module == "pandas" or module.startswith("pandas."):
            return True
        if isinstance(obj, (list, tuple)):
            obj = np.asarray(obj)
        return isinstance(obj, np.ndarray) and obj.ndim == 1

    def load(self, obj: object, *, name: str | None = None) -> SeriesSample:
        return load_with(SeriesSample, obj, name)

    def default_renderer(self) -> SeriesRenderer:
        from genad.modalities.series._render import SeriesRenderer

        return SeriesRenderer()

    def default_expert(self) -> SeriesExpert:
        from genad.modalities.series._expert import SeriesExpert

        return SeriesExpert()

    def check_dependencies(self, component: object) -> None:
        """Parquet files need pyarrow (the ``series`` extra); it is checked when one is read."""

    def picture(self, report: AnomalyReport, sample: Any = None) -> np.ndarray:
        """The whole series in one plot (one image per group of channels, stacked), with the report drawn on it.

        The flagged intervals are shaded in their region's source colour and tagged with their number, and a strip
        of the per-position scores (turbo: blue low, red high) runs under each plot when the report has them.
        """
        from dataclasses import replace

        from genad.annotate import heat_strip, mark_region, stack

        series = self._sample_of(report, sample)
        renderer = replace(self.default_renderer(), points_per_window=max(series.length, 1), max_windows=1)
        rendering = renderer.render(series)
        images = [np.array(img, copy=True) for img in rendering.images]
        for number, region in enumerate(report.regions, 1):
            for view in rendering.to_views(region):
                if view.box is None or not 0 <= view.view < len(images):
                    continue
                x0, y0, x1, y1 = view.box
                box = (x0 - 1, y0, max(x1, x0 + 2) + 1, y1)  # a one-position interval stays visible
                images[view.view] = mark_region(images[view.view], box, number, region, shade=0.3)
        amap = report.anomaly_map
        if amap is not None and np.ndim(amap) == 1 and len(amap) == series.length:
            scores = np.clip(np.nan_to_num(np.asarray(amap, dtype=np.float32)), 0, 1)
            xs = np.arange(series.length, dtype=np.float64) if rendering.x_is_position else \
                np.asarray(series.index, dtype=np.float64)
            pictures = []
            for image, (left, _top, right, _bottom), (lo, hi) in zip(
                    images, rendering.plot_px, rendering.xlims, strict=True):
                a, b = round(left), round(right)
                pictures += [image, heat_strip(_per_column(xs, scores, lo, hi, b - a), image.shape[1], 12, a, b)]
            return stack(pictures, gap=0)
        return stack(images)

    def metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """Range-based F1 (Tatbul et al.) of the flagged intervals against the labelled windows, per file, averaged."""
        from genad import metrics

        f1s = []
        for r in records:
            if not r.item.windows:
                continue
            n = r.item.length
            f1s.append(metrics.range_precision_recall_f1(r.item.windows, metrics.flagged_ranges(r.report, n), n)[2])
        return {"range_f1": float(np.mean(f1s)) if f1s else float("nan")}

    def roc_points(self, records: Sequence[EvalRecord]) -> tuple[np.ndarray, np.ndarray]:
        """One point per row of the files with labelled windows."""
        from genad import metrics

        labels, scores = [], []
        for r in records:
            if not r.item.windows:
                continue
            n = r.item.length
            truth = np.zeros(n, dtype=np.int8)
            for a, b in r.item.windows:
                truth[a:b + 1] = 1
            labels.append(truth)
            scores.append(metrics.dense_scores(r.report, n))
        return (np.concatenate(labels) if labels else np.zeros(0, np.int8),
                np.concatenate(scores) if scores else np.zeros(0))

    def eval_picture(self, record: EvalRecord) -> np.ndarray | None:
        """The series (first channel, grey) with its scores (blue) against position, labelled windows shaded."""
        from genad.annotate import score_plot

        sample = self.load(record.item.sample)
        n = record.item.length
        values = sample.values[:, 0] if sample.length == n else None
        return score_plot(record.report, n, record.item.windows, xlabel="position", values=values)


def _per_column(xs: np.ndarray, scores: np.ndarray, lo: float, hi: float, columns: int) -> np.ndarray:
    """The highest score of the positions whose x values fall in each of ``columns`` pixel columns spanning
    ``[lo, hi]`` (``xs`` ascending); a column between two positions takes the nearer one's."""
    edges = lo + (hi - lo) * np.arange(columns + 1) / columns
    starts = np.searchsorted(xs, edges[:-1], side="left")
    ends = np.searchsorted(xs, edges[1:], side="left")
    centre = np.clip(np.searchsorted(xs, (edges[:-1] + edges[1:]) / 2), 0, len(xs) - 1)
    out = scores[centre].copy()
    for c in np.flatnonzero(ends > starts):
        out[c] = scores[starts[c]:ends[c]].max()
    return out


modality = SeriesModality()
"""The series modality object, as registered."""
