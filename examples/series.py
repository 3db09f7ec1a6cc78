"""Find a spike and a level shift in a time series, with the local series expert: offline, no model.

The series is a pandas Series made here: two weeks of hourly readings with a daily cycle and noise, a one-hour
spike on day 4 and, from day 9 on, a level that has jumped up. The default expert scores the whole series
(``mode="offline"``) and the report's regions carry both positions (``interval``) and timestamps (``span``);
``report.anomaly_map`` holds one score per point, so the peak of each interval can be read off it.

    python examples/series.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genad import Detector

SPIKE_AT = pd.Timestamp("2024-03-04 15:00")
SHIFT_FROM = pd.Timestamp("2024-03-09 06:00")


def make_series() -> pd.Series:
    """Hourly values for 14 days: a daily sine plus noise, one spike and a level shift of +6."""
    index = pd.date_range("2024-03-01", periods=14 * 24, freq="h")
    rng = np.random.default_rng(0)
    hours = np.arange(len(index))
    values = 20 + 3 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.4, len(index))
    values[index == SPIKE_AT] += 12
    values[index >= SHIFT_FROM] += 6
    return pd.Series(values, index=index, name="temperature")


def main() -> None:
    series = make_series()
    report = Detector(mode="local").detect(series, category="room temperature")
    print(report)
    print(report.explanation)
    print(f"  truth: spike at {SPIKE_AT}, level shift from {SHIFT_FROM}")
    assert report.anomaly_map is not None
    for region in report.regions:  # series regions: inclusive positions and the timestamps at both ends
        assert region.interval is not None and region.span is not None
        (first, last), (start, end) = region.interval, region.span
        peak = first + int(np.argmax(report.anomaly_map[first:last + 1]))
        print(f"  anomalous interval: {start} to {end} (positions {first}-{last}), peak at {series.index[peak]}")


if __name__ == "__main__":
    main()
