"""The time-series modality: univariate and multivariate series, regions as position intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from genad._modality import ModalityBase
from genad._sample import load_with
from genad.modalities.series._sample import SeriesSample

if TYPE_CHECKING:
    from genad.eval import EvalRecord
    from genad.modalities.series._expert import SeriesExpert
    from genad.modalities.series._render import SeriesRenderer

__all__ = ["SeriesModality", "modality"]


class SeriesModality(ModalityBase):
    """Time series: rendered as line plots, scored by the signal-statistics
    :class:`~genad.modalities.series.SeriesExpert`."""

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


modality = SeriesModality()
"""The series modality object, as registered."""
