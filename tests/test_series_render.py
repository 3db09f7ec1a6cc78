"""SeriesRenderer: readable plots, spike-keeping decimation, and the exact map between x axis and positions."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest

from genad import LadderPrompt, PromptContext, Region, ViewRegion
from genad._pipeline import with_contract
from genad.modalities.series import SeriesRenderer, SeriesSample
from genad.modalities.series._render import minmax_decimate


def _datetime_sample(n: int = 500) -> SeriesSample:
    idx = pd.date_range("2024-03-01", periods=n, freq="5min")
    return SeriesSample.from_array(pd.Series(np.sin(np.arange(n) / 10.0), index=idx, name="load"))


def test_single_window_image_and_wording() -> None:
    r = SeriesRenderer().render(_datetime_sample())
    assert len(r.images) == 1 and r.images[0].shape == (512, 1024, 3) and r.images[0].dtype == np.uint8
    assert r.noun == "image"
    assert '"interval": [start, end]' in r.locate_hint and "position" in r.locate_hint
    assert r.windows == [(0, 499)]
    assert "2024-03-01 00:00" in r.labels[0]


def test_fixed_size_whatever_the_length() -> None:
    renderer = SeriesRenderer(points_per_window=100, max_windows=3)
    short = renderer.render(SeriesSample.from_array(np.arange(50.0)))
    long = renderer.render(SeriesSample.from_array(np.arange(5000.0)))
    assert {im.shape for im in short.images + long.images} == {(512, 1024, 3)}
    assert len(long.images) == 3


def test_windows_cover_and_overlap() -> None:
    windows = SeriesRenderer(points_per_window=1000, max_windows=4, overlap=0.1).windows(10_000)
    assert windows[0][0] == 0 and windows[-1][1] == 9999
    for (a0, a1), (b0, _b1) in itertools.pairwise(windows):
        assert b0 <= a1 and b0 > a0  # consecutive windows overlap and advance


def test_decimation_keeps_a_single_spike() -> None:
    y = np.zeros(100_000)
    y[54_321] = 9.0
    y[12_345] = -7.0
    x = np.arange(y.size, dtype=np.float64)
    dx, dy = minmax_decimate(x, y, 500)
    assert dy.size == 1000 and dy.max() == 9.0 and dy.min() == -7.0
    assert np.all(np.diff(dx) >= 0)


def test_decimation_keeps_nan_gaps() -> None:
    y = np.ones(10_000)
    y[2000:4000] = np.nan
    _dx, dy = minmax_decimate(np.arange(y.size, dtype=np.float64), y, 100)
    assert np.isnan(dy).any() and np.nanmax(dy) == 1.0


def test_to_native_datetime_positions_are_exact() -> None:
    sample = _datetime_sample(3000)
    r = SeriesRenderer().render(sample)
    view = 1
    first, _last = r.windows[view]
    mapped = r.to_native(ViewRegion(view, interval=(first + 10, first + 25), label="spike", confidence=0.8))
    assert mapped.note is None and mapped.region is not None
    assert mapped.region.interval == (first + 10, first + 25)
    assert mapped.region.span == (sample.index[first + 10], sample.index[first + 25])
    assert mapped.region.label == "spike" and mapped.region.view == view
    reversed_ = r.to_native(ViewRegion(view, interval=(first + 25.4, first + 9.6)))
    assert reversed_.region is not None and reversed_.region.interval == (first + 10, first + 25)


def test_to_native_integer_index_uses_index_units() -> None:
    sample = SeriesSample.from_array(pd.Series(np.arange(6.0), index=[100, 110, 120, 130, 140, 150]))
    r = SeriesRenderer().render(sample)
    assert not r.x_is_position and "index values" in r.locate_hint
    mapped = r.to_native(ViewRegion(0, interval=(110, 130)))
    assert mapped.region is not None and mapped.region.interval == (1, 3) and mapped.region.span == (110, 130)
    between = r.to_native(ViewRegion(0, interval=(112, 114)))
    assert between.region is not None and between.region.interval == (1, 1)


def test_to_native_clips_and_drops() -> None:
    r = SeriesRenderer().render(SeriesSample.from_array(np.arange(100.0)))
    clipped = r.to_native(ViewRegion(0, interval=(90, 400)))
    assert clipped.region is not None and clipped.region.interval == (90, 99) and "clipped" in (clipped.note or "")
    dropped = r.to_native(ViewRegion(0, interval=(500, 600)))
    assert dropped.region is None and "outside" in (dropped.note or "")
    assert r.to_native(ViewRegion(3, interval=(1, 2))).region is None
    nowhere = r.to_native(ViewRegion(0))
    assert nowhere.region is not None and nowhere.region.kind == "none"


def test_views_and_native_round_trip_through_pixels() -> None:
    sample = _datetime_sample(4000)
    r = SeriesRenderer(points_per_window=1000, max_windows=4).render(sample)
    region = Region(interval=(1700, 1760), source="expert")
    views = r.to_views(region)
    assert views and all(r.windows[v.view][0] <= 1700 or r.windows[v.view][1] >= 1760 for v in views)
    for v in views:
        assert v.box is not None and v.interval is not None
        from_box = r.to_native(ViewRegion(v.view, box=v.box))
        assert from_box.region is not None
        a, b = from_box.region.interval or (0, 0)
        first, last = r.windows[v.view]
        assert abs(a - max(1700, first)) <= 1 and abs(b - min(1760, last)) <= 1
        from_interval = r.to_native(ViewRegion(v.view, interval=v.interval))
        assert from_interval.region is not None
        assert from_interval.region.interval == (max(1700, first), min(1760, last))
    assert r.to_views(Region(box=(0, 0, 1, 1))) == []


def test_multivariate_panels_and_channel_groups() -> None:
    data = np.random.default_rng(0).normal(size=(300, 8))
    r = SeriesRenderer(max_panels=6).render(SeriesSample.from_array(data))
    assert len(r.images) == 2 and r.channels == [(0, 1, 2, 3, 4, 5), (6, 7)]
    assert "channels x6, x7" in r.labels[1]


def test_constant_and_nan_series_render() -> None:
    r = SeriesRenderer().render(SeriesSample.from_array(np.full(50, 2.0)))
    assert r.images[0].std() > 0
    with_gap = np.arange(50.0)
    with_gap[10:20] = np.nan
    assert SeriesRenderer().render(SeriesSample.from_array(with_gap)).images


def test_plot_is_drawn_where_the_data_is() -> None:
    y = np.zeros(200)
    y[150] = 10.0
    r = SeriesRenderer().render(SeriesSample.from_array(y))
    left, top, right, _ = r.plot_px[0]
    lo, hi = r.xlims[0]
    col = round(left + (150 - lo) / (hi - lo) * (right - left))
    strip = r.images[0][int(top) + 5:int(top) + 60, col - 3:col + 4]
    assert (strip.min(axis=2) < 150).any()  # the spike's dark line reaches the top of the panel


def test_rendering_pickles_and_prompts() -> None:
    r = SeriesRenderer().render(_datetime_sample())
    back = pickle.loads(pickle.dumps(r))
    assert back.to_native(ViewRegion(0, interval=(3, 4))).region is not None
    context = PromptContext(query=r, category="CPU load", criteria="Normal load follows a smooth daily cycle.")
    text = with_contract(LadderPrompt().build(context), context)[0].text
    assert "the image given about the CPU load" in text and '"interval": [start, end]' in text


@pytest.mark.parametrize("n", [2, 3])
def test_tiny_series(n: int) -> None:
    r = SeriesRenderer().render(SeriesSample.from_array(np.arange(float(n))))
    assert r.windows == [(0, n - 1)]
