"""Series for a VLM: :class:`SeriesRenderer` draws line plots that can be read to the index, and maps back exactly.

The x axis is in the sample's own units: the integer index for an integer-indexed series, and the row position
(``0 .. T-1``) for a datetime-indexed one, with each tick's timestamp printed under its position. A VLM answers
``"interval": [start, end]`` in those printed units; :meth:`SeriesRendering.to_native` turns it into inclusive
positions and index labels. Positions are used for datetime series because a VLM can copy an integer back exactly,
while a timestamp read off a plot is neither a number nor exact.

Long series are cut into at most ``max_windows`` overlapping windows; inside a window, more points than pixel
columns are reduced by min-max decimation (each column keeps its minimum and maximum, in time order), so a single
spike stays visible. Multivariate series become stacked panels sharing the x axis (``max_panels`` per image; more
channels add images for the same window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from genad._rendering import Mapped, Rendering, ViewRegion
from genad._report import Region
from genad.modalities.series._sample import SeriesSample

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SeriesRenderer", "SeriesRendering", "minmax_decimate"]

LINE_COLORS = ("#1f4e9c", "#b23a1d", "#2a7a3b", "#6b3fa0", "#8a6d1a", "#1a7f86")


@dataclass(eq=False)
class SeriesRendering(Rendering):
    """Plots of one series and the exact map between their x axes and the sample's positions.

    The fields below add to :class:`~genad.Rendering`'s.

    Parameters
    ----------
    index
        The series' index.
    x_is_position
        Whether the x axis shows positions (datetime index) or the integer index itself.
    windows
        ``windows[v]`` is the inclusive ``(first, last)`` position plotted in image ``v``.
    channels
        ``channels[v]`` holds the column numbers drawn in image ``v``.
    plot_px
        ``plot_px[v]`` is the ``(left, top, right, bottom)`` pixels of image ``v``'s plotting area.
    xlims
        ``xlims[v]`` is image ``v``'s x-axis limits; with ``plot_px`` they turn pixel boxes into x-axis units.
    """

    index: Any = None
    x_is_position: bool = True
    windows: list[tuple[int, int]] = field(default_factory=list)
    channels: list[tuple[int, ...]] = field(default_factory=list)
    plot_px: list[tuple[float, float, float, float]] = field(default_factory=list)
    xlims: list[tuple[float, float]] = field(default_factory=list)

    def _x_of(self, position: int) -> float:
        return float(position) if self.x_is_position else float(self.index[position])

    def _positions(self, start: float, end: float, first: int, last: int) -> tuple[int, int]:
        """Inclusive positions inside ``[first, last]`` covered by the x-axis range ``[start, end]``."""
        if self.x_is_position:
            return max(first, round(start)), min(last, round(end))
        labels = np.asarray(self.index[first:last + 1], dtype=np.float64)
        p0 = int(np.searchsorted(labels, start - 1e-9, side="left"))
        p1 = int(np.searchsorted(labels, end + 1e-9, side="right")) - 1
        if p1 < p0:  # the range falls between two index values: take the nearest one
            p0 = p1 = int(np.argmin(np.abs(labels - (start + end) / 2)))
        return first + p0, first + p1

    def _label(self, position: int) -> Any:
        import pandas as pd

        value = self.index[position]
        return value if isinstance(self.index, pd.DatetimeIndex) else int(value)

    def box_to_interval(self, view: int, box: tuple[float, float, float, float]) -> tuple[float, float]:
        """The x-axis range covered by a pixel box on one image.

        Parameters
        ----------
        view
            The 0-based image index.
        box
            ``(x0, y0, x1, y1)`` in that image's pixels.
        """
        left, _, right, _ = self.plot_px[view]
        lo, hi = self.xlims[view]
        scale = (hi - lo) / (right - left)
        x0, x1 = sorted((box[0], box[2]))
        return lo + (x0 - left) * scale, lo + (x1 - left) * scale

    def to_native(self, region: ViewRegion) -> Mapped:
        bad = self.missing_view(region.view)
        if bad is not None:
            return bad
        if region.interval is not None:
            start, end = sorted(float(v) for v in region.interval)
        elif region.box is not None:
            start, end = self.box_to_interval(region.view, region.box)
        else:
            return Mapped(Region(label=region.label, confidence=region.confidence, view=region.view))
        if not (math.isfinite(start) and math.isfinite(end)):
            return Mapped(None, f"dropped interval {[start, end]} on image {region.view + 1}: not finite")
        first, last = self.windows[region.view]
        lo, hi = self._x_of(first), self._x_of(last)
        shown = f"[{lo:g}, {hi:g}]"
        if end < lo - 0.5 or start > hi + 0.5:
            return Mapped(None, f"dropped interval [{start:g}, {end:g}] on image {region.view + 1}: outside its "
                                f"x range {shown}")
        note = None
        if start < lo - 0.5 or end > hi + 0.5:
            note = f"clipped interval [{start:g}, {end:g}] on image {region.view + 1} to its x range {shown}"
        p0, p1 = self._positions(start, end, first, last)
        return Mapped(Region(interval=(p0, p1), span=(self._label(p0), self._label(p1)), label=region.label,
                             confidence=region.confidence, view=region.view), note)

    def to_views(self, region: Region) -> list[ViewRegion]:
        if region.interval is None:
            return []
        p0, p1 = sorted(int(v) for v in region.interval)
        out: list[ViewRegion] = []
        for view, (first, last) in enumerate(self.windows):
            a, b = max(p0, first), min(p1, last)
            if a > b:
                continue
            x0, x1 = self._x_of(a), self._x_of(b)
            left, top, right, bottom = self.plot_px[view]
            lo, hi = self.xlims[view]
            px = (right - left) / (hi - lo)
            box = (left + (x0 - lo) * px, top, left + (x1 - lo) * px, bottom)
            out.append(ViewRegion(view, box=box, interval=(x0, x1), label=region.label,
                                  confidence=region.confidence))
        return out


@dataclass(frozen=True)
class SeriesRenderer:
    """Line plots of a :class:`~genad.modalities.series._sample.SeriesSample`.

    Parameters
    ----------
    width, height
        The size of each plot in pixels.
    points_per_window
        A series longer than this is cut into windows.
    max_windows
        The most windows a series is cut into.
    overlap
        How much consecutive windows overlap, as a fraction of a window.
    max_panels
        Each image holds up to this many channels as stacked panels.
    dpi
        Matplotlib's dots per inch for the figures.
    """

    width: int = 1024
    height: int = 512
    points_per_window: int = 2000
    max_windows: int = 4
    overlap: float = 0.1
    max_panels: int = 6
    dpi: int = 100

    def windows(self, length: int) -> list[tuple[int, int]]:
        """Inclusive ``(first, last)`` positions of each window for a series.

        Parameters
        ----------
        length
            The series' points.
        """
        n = min(self.max_windows, max(1, math.ceil(length / self.points_per_window)))
        if n == 1:
            return [(0, length - 1)]
        size = min(length, math.ceil(length / n * (1 + self.overlap)))
        starts = np.linspace(0, length - size, n).round().astype(int)
        return [(int(s), int(s) + size - 1) for s in starts]

    def render(self, sample: SeriesSample) -> SeriesRendering:
        import pandas as pd

        x_is_position = isinstance(sample.index, pd.DatetimeIndex)
        groups = [tuple(range(i, min(i + self.max_panels, sample.n_channels)))
                  for i in range(0, sample.n_channels, self.max_panels)]
        xs = np.arange(sample.length, dtype=np.float64) if x_is_position else \
            np.asarray(sample.index, dtype=np.float64)
        spans = self.windows(sample.length)
        out = SeriesRendering(images=[], labels=[], noun="image", locate_hint=_locate_hint(x_is_position),
                              answer_fields=("interval", "box"),
                              index=sample.index, x_is_position=x_is_position,
                              meta={"length": sample.length, "columns": list(sample.columns)})
        drawn: dict[tuple[int, int, int], tuple[np.ndarray, tuple[float, float, float, float],
                                                tuple[float, float]]] = {}
        for g, group in enumerate(groups):
            plot = _Plot(self, sample, group, x_is_position)  # one figure per channel group, redrawn per window
            for first, last in spans:
                drawn[(first, last, g)] = plot.draw(xs, first, last)
        for w, (first, last) in enumerate(spans):
            for g, group in enumerate(groups):
                image, px, xlim = drawn[(first, last, g)]
                out.images.append(image)
                out.windows.append((first, last))
                out.channels.append(group)
                out.plot_px.append(px)
                out.xlims.append(xlim)
                out.labels.append(_caption(sample, w, len(spans), first, last, group, x_is_position))
        return out


class _Plot:
    """A figure of stacked panels for some channels, drawn once per window (reusing the figure saves time)."""

    def __init__(self, renderer: SeriesRenderer, sample: SeriesSample, group: tuple[int, ...],
                 x_is_position: bool) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        self.sample, self.group = sample, group
        self.buckets = int(renderer.width * 0.9)
        fig = Figure(figsize=(renderer.width / renderer.dpi, renderer.height / renderer.dpi), dpi=renderer.dpi)
        self.canvas = FigureCanvasAgg(fig)
        titled = sample.n_channels > 1  # each panel's channel is named in full above it
        layout = _panel_layout(renderer.height, renderer.dpi, len(group), titled, x_is_position)
        fig.subplots_adjust(left=0.08, right=0.96, top=layout.top, bottom=layout.bottom, hspace=layout.hspace)
        self.axes = list(fig.subplots(len(group), 1, sharex=True, squeeze=False)[:, 0])
        self.lines = []
        for k, (ax, col) in enumerate(zip(self.axes, group, strict=True)):
            (line,) = ax.plot([], [], color=LINE_COLORS[k % len(LINE_COLORS)], linewidth=0.9)
            self.lines.append(line)
            ax.grid(True, color="#d0d0d0", linewidth=0.5)
            ax.tick_params(labelsize=8)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=layout.y_bins, steps=[1, 2, 2.5, 5, 10]))
            ax.yaxis.set_major_formatter(_value_formatter())
            if titled:
                ax.set_title(sample.columns[col], loc="left", fontsize=8, pad=2, color=LINE_COLORS[k % 6])
            else:
                ax.set_ylabel(sample.columns[col], fontsize=8)
        ax = self.axes[-1]
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_tick_formatter(sample, x_is_position)))
        ax.set_xlabel("position (row number), timestamp below" if x_is_position else
                      str(sample.index.name or "index"), fontsize=8)

    def draw(self, xs: np.ndarray, first: int, last: int
             ) -> tuple[np.ndarray, tuple[float, float, float, float], tuple[float, float]]:
        x = xs[first:last + 1]
        for ax, line, col in zip(self.axes, self.lines, self.group, strict=True):
            dx, dy = minmax_decimate(x, self.sample.values[first:last + 1, col], self.buckets)
            line.set_data(dx, dy)
            finite = dy[np.isfinite(dy)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.5)
            ax.set_ylim(lo - pad, hi + pad)
        ax = self.axes[-1]
        ax.set_xlim(x[0], x[-1] if x[-1] > x[0] else x[0] + 1)
        self.canvas.draw()
        image = np.asarray(self.canvas.buffer_rgba())[:, :, :3].copy()
        height = image.shape[0]
        top_box, bottom_box = self.axes[0].get_window_extent(), ax.get_window_extent()
        px = (float(bottom_box.x0), float(height - top_box.y1), float(bottom_box.x1), float(height - bottom_box.y0))
        x_lo, x_hi = ax.get_xlim()
        return image, px, (float(x_lo), float(x_hi))


def _caption(sample: SeriesSample, w: int, n: int, first: int, last: int, group: tuple[int, ...],
             x_is_position: bool) -> str:
    unit = "positions" if x_is_position else "index"
    text = f"plot of {unit} {_fmt_x(sample, first, x_is_position)} to {_fmt_x(sample, last, x_is_position)}"
    if n > 1:
        text += f" (window {w + 1} of {n}, windows overlap)"
    if x_is_position:
        text += f", time {_fmt_time(sample.index[first])} to {_fmt_time(sample.index[last])}"
    if sample.n_channels > 1:
        text += ", channels " + ", ".join(sample.columns[c] for c in group)
    return text


def minmax_decimate(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``(x, y)`` to at most ``2 * buckets`` points: each bucket's minimum and maximum, in time order.

    NaN values are ignored inside a bucket; an all-NaN bucket stays NaN (a gap in the line).

    Parameters
    ----------
    x, y
        The line's points.
    buckets
        Buckets the points are split into (a series of at most ``2 * buckets`` points is returned as it is).
    """
    n = y.size
    if n <= 2 * buckets:
        return x, y
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)[:-1]
    filled_lo = np.where(np.isnan(y), np.inf, y)
    filled_hi = np.where(np.isnan(y), -np.inf, y)
    lo = np.minimum.reduceat(filled_lo, edges)
    hi = np.maximum.reduceat(filled_hi, edges)
    ends = np.r_[edges[1:], n]
    starts_x, ends_x = x[edges], x[ends - 1]
    # place the extreme that occurs first at the bucket start, so the line's order follows time
    arg_lo = _argreduce(filled_lo, edges, lo)
    arg_hi = _argreduce(filled_hi, edges, hi)
    lo_first = arg_lo <= arg_hi
    first = np.where(lo_first, lo, hi)
    second = np.where(lo_first, hi, lo)
    empty = ~np.isfinite(lo)
    first[empty] = np.nan
    second[empty] = np.nan
    out_x = np.column_stack([starts_x, ends_x]).ravel()
    out_y = np.column_stack([first, second]).ravel()
    return out_x, out_y


def _argreduce(y: np.ndarray, edges: np.ndarray, target: np.ndarray) -> np.ndarray:
    """For each bucket, the first offset where ``y`` equals the bucket's reduced value."""
    bucket = np.repeat(np.arange(edges.size), np.diff(np.r_[edges, y.size]))
    hit = np.flatnonzero(y == target[bucket])
    first = np.full(edges.size, y.size, dtype=np.int64)
    np.minimum.at(first, bucket[hit], hit)
    return first


def _tick_formatter(sample: SeriesSample, x_is_position: bool) -> Any:
    def fmt(value: float, _pos: int | None) -> str:
        p = round(value)
        if not x_is_position:
            return f"{p}"
        if not 0 <= p < sample.length:
            return f"{p}"
        return f"{p}\n" + _fmt_time(sample.index[p]).replace(" ", "\n")

    return fmt


def _fmt_x(sample: SeriesSample, position: int, x_is_position: bool) -> str:
    return str(position) if x_is_position else str(int(sample.index[position]))


def _fmt_time(stamp: pd.Timestamp) -> str:
    if stamp.second == 0 and stamp.microsecond == 0:
        return f"{stamp:%Y-%m-%d %H:%M}"
    return f"{stamp:%Y-%m-%d %H:%M:%S}"


@dataclass(frozen=True)
class _Layout:
    top: float
    bottom: float
    hspace: float
    y_bins: int


_TITLE_PX = 15  # room for a panel's title (8-point text and its padding) above the panel
_GAP_PX = 6  # between a panel and the next one's title
_TICK_PX = 18  # at least this far apart, the y tick labels of 8-point text never touch


def _panel_layout(height: int, dpi: int, panels: int, titled: bool, x_is_position: bool) -> _Layout:
    """Figure margins and panel spacing in pixels: room for every panel's title, and as many y ticks as fit
    without their labels touching (or touching the next panel's)."""
    bottom_px = (0.19 if x_is_position else 0.11) * height
    top_px = (_TITLE_PX + 2) if titled else 0.03 * height
    gap = (_TITLE_PX + _GAP_PX) if titled else 0.08 * (height - top_px - bottom_px) / max(panels, 1)
    panel = max(10.0, (height - top_px - bottom_px - gap * (panels - 1)) / panels)
    bins = int(np.clip(panel // (2 * _TICK_PX), 1, 5))
    return _Layout(top=1 - top_px / height, bottom=bottom_px / height, hspace=gap / panel, y_bins=bins)


def _value_formatter() -> Any:
    """A matplotlib formatter of y tick labels by :func:`_format_value`."""
    from matplotlib.ticker import Formatter

    class ValueFormatter(Formatter):
        def format_ticks(self, values: Sequence[float]) -> list[str]:
            return [_format_value(v, values) for v in values]

        def __call__(self, x: float, pos: int | None = None) -> str:
            return _format_value(x, [x])

    return ValueFormatter()


def _format_value(value: float, locs: Sequence[float]) -> str:
    """A y tick label with the fewest decimals that tell the ticks ``locs`` apart, and no offset or shared
    exponent (matplotlib prints those above the axis, where they would collide with the panel's title)."""
    ticks = np.asarray(locs, dtype=np.float64)
    big = float(np.abs(ticks).max()) if ticks.size else abs(value)
    step = float(np.min(np.diff(np.sort(ticks)))) if ticks.size > 1 else max(abs(value), 1.0)
    if big >= 1e6 or 0 < big < 1e-3:
        digits = int(np.clip(np.ceil(np.log10(big / step)) if step > 0 else 3, 0, 8))
        return f"{value:.{digits}e}"
    for decimals in range(10):
        if ticks.size == 0 or np.allclose(np.round(ticks, decimals), ticks, rtol=0, atol=max(step, 1e-12) * 1e-3):
            return f"{value:.{decimals}f}"
    return f"{value:g}"


def _locate_hint(x_is_position: bool) -> str:
    units = ("the integer row positions printed on the x axis (the upper number of each tick label; the timestamp "
             "under it is only for reading)") if x_is_position else "the index values printed on the x axis"
    return (f'Give each region as "interval": [start, end], inclusive, in {units}, and "image": the number of the '
            'plot it is in; read start and end off the tick labels and the grid, and leave "box" and "cells" null.')

