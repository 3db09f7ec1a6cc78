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
from genad.modalities.series._render import _Plot, minmax_decimate


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


LONG_NAMES = ["Accelerometer1RMS", "Volume Flow RateRMS", "supply air temperature after the heat exchanger (°C)",
              "tiny", "pressure (Pa)", "count", "Thermocouple"]


def _multivariate(n: int = 400) -> SeriesSample:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-03-01", periods=n, freq="1s")
    scales = [1e-4, 3e7, 22.2, 1.0, -5e3, 1e3, 0.05]
    data = {name: scale * (1 + 0.01 * rng.normal(size=n).cumsum()) for name, scale in zip(LONG_NAMES, scales,
                                                                                          strict=True)}
    return SeriesSample.from_array(pd.DataFrame(data, index=index))


def _texts(plot: _Plot) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every visible text of a drawn plot with its pixel extent: tick labels, titles, axis labels, offsets."""
    renderer = plot.canvas.get_renderer()
    found = []
    for ax in plot.axes:
        shown = []  # the tick labels matplotlib draws: those of ticks inside the axis's view
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            shown += [t.label1 for t in axis.get_major_ticks() if lo - 1e-9 <= t.get_loc() <= hi + 1e-9]
        texts = [*shown, ax.title, ax._left_title, ax.yaxis.label, ax.xaxis.label, ax.yaxis.get_offset_text(),
                 ax.xaxis.get_offset_text()]
        for t in texts:
            if t.get_visible() and t.get_text():
                box = t.get_window_extent(renderer)
                found.append((t.get_text(), (box.x0, box.y0, box.x1, box.y1)))
    return found


@pytest.mark.parametrize("panels", [2, 4, 6])
def test_multivariate_panels_name_every_channel_in_full_and_no_labels_collide(panels: int) -> None:
    sample = _multivariate()
    renderer = SeriesRenderer(max_panels=panels)
    for group in [tuple(range(i, min(i + panels, sample.n_channels))) for i in range(0, sample.n_channels, panels)]:
        plot = _Plot(renderer, sample, group, x_is_position=True)
        plot.draw(np.arange(sample.length, dtype=np.float64), 0, sample.length - 1)
        texts = _texts(plot)
        titles = [ax._left_title.get_text() for ax in plot.axes]
        assert titles == [sample.columns[c] for c in group]  # full names, never cut
        assert not [t for t, _ in texts if "…" in t]
        assert all(ax.yaxis.get_offset_text().get_text() == "" for ax in plot.axes)  # no shared offset or exponent
        for ax in plot.axes:
            lo, hi = sorted(ax.get_ylim())
            labels = [t.label1.get_text() for t in ax.yaxis.get_major_ticks() if lo <= t.get_loc() <= hi]
            assert len(labels) >= 2 and all(labels)  # every panel can be read off its ticks
            assert len(set(labels)) == len(labels)  # distinct tick labels
        height = renderer.height
        for (a, box_a), (b, box_b) in itertools.combinations(texts, 2):
            overlap_x = min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])
            overlap_y = min(box_a[3], box_b[3]) - max(box_a[1], box_b[1])
            assert overlap_x <= 0.5 or overlap_y <= 0.5, f"{a!r} collides with {b!r}"
        for text, (x0, y0, x1, y1) in texts:
            assert x0 >= -0.5 and y0 >= -0.5 and x1 <= renderer.width + 0.5 and y1 <= height + 0.5, text


def test_univariate_plot_names_its_y_axis() -> None:
    sample = SeriesSample.from_array(pd.Series(np.arange(50.0), name="cpu load (%)"))
    plot = _Plot(SeriesRenderer(), sample, (0,), x_is_position=False)
    assert plot.axes[0].get_ylabel() == "cpu load (%)"
    assert plot.axes[0].get_title(loc="left") == ""


def test_multivariate_map_is_exact_on_every_panel() -> None:
    """A spike in the last channel is drawn at the x pixel ``to_views`` gives, and a box there maps back to it."""
    sample = _multivariate(600)
    values = sample.values.copy()
    values[:, -1] = 0.0
    values[437, -1] = 1.0
    spiky = SeriesSample(values, sample.index, sample.columns)
    r = SeriesRenderer(max_panels=4).render(spiky)
    view = 1  # the second group holds the last channel, in its bottom panel
    assert r.channels[view][-1] == spiky.n_channels - 1
    (v,) = [v for v in r.to_views(Region(interval=(437, 437))) if v.view == view]
    assert v.box is not None
    col = round((v.box[0] + v.box[2]) / 2)
    _, top, _, bottom = r.plot_px[view]
    panel = r.images[view][int(bottom) - 60:int(bottom) - 3, col - 2:col + 3]
    assert (panel.min(axis=2) < 150).any()  # the spike's line is there
    back = r.to_native(ViewRegion(view, box=(col - 0.4, top + 10, col + 0.4, bottom - 10)))
    assert back.region is not None and back.region.interval is not None
    assert abs(back.region.interval[0] - 437) <= 1 and abs(back.region.interval[1] - 437) <= 1
