"""Drawing: heatmaps, boxes, Set-of-Mark marks and score plots, each one function over RGB uint8 arrays.

The result types hold data only; everything that draws them lives here. Each function returns a new array (except
:func:`draw_box`, which draws in place) so notebook code can chain them.

>>> import numpy as np
>>> from genad import Region
>>> from genad.annotate import blend_heatmap, draw_box
>>> canvas = blend_heatmap(np.zeros((64, 64, 3), np.uint8), np.eye(64))
>>> draw_box(canvas, (8, 8, 40, 40), "1 scratch", (255, 0, 0))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from genad._rendering import Rendering
from genad._report import AnomalyReport, Region

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MARK_COLOURS",
    "SOURCE_COLOURS",
    "blend_heatmap",
    "draw_box",
    "draw_marks",
    "draw_regions",
    "draw_report",
    "figure_to_array",
    "heat_strip",
    "mark_region",
    "score_plot",
    "show",
    "stack",
    "tint",
]

MARK_COLOURS = ((255, 64, 64), (255, 200, 0), (0, 220, 255), (255, 0, 255), (64, 255, 64), (255, 128, 0))
"""Colours of Set-of-Mark marks 1, 2, 3, ... (cycled)."""
SOURCE_COLOURS = {"expert": (255, 160, 0), "vlm": (0, 200, 255), "hybrid": (255, 0, 200)}
"""Colours of report regions by source: orange expert, cyan VLM, magenta both."""
_TAG_SCALE = 0.45  # font scale of region tags on pictures of rendered samples (plots, grids, views)


def blend_heatmap(image: np.ndarray, score_map: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``image`` with ``score_map`` (values in [0, 1], any size) blended on top as a turbo colour map.

    Parameters
    ----------
    image
        RGB uint8, ``(H, W, 3)``.
    score_map
        2-D scores in [0, 1]; stretched to the image. Pixels scoring below 0.1 keep their colour, so a normal
        image stays readable.
    alpha
        Opacity of the colour map where the score is high.
    """
    h, w = image.shape[:2]
    scores = np.clip(np.nan_to_num(np.asarray(score_map, dtype=np.float32)), 0.0, 1.0)
    if scores.shape != (h, w):
        scores = np.asarray(cv2.resize(scores, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    colours = cv2.cvtColor(cv2.applyColorMap((scores * 255).astype(np.uint8), cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    weight = (alpha * np.clip(scores / 0.3, 0.0, 1.0))[:, :, None]
    return (image.astype(np.float32) * (1 - weight) + colours.astype(np.float32) * weight).astype(np.uint8)


def draw_box(image: np.ndarray, box: tuple[float, float, float, float], text: str,
             colour: tuple[int, int, int], text_scale: float | None = None) -> None:
    """Draw a box with a text in a filled tag at its top-left corner, in place.

    Line width and text size follow the image's size, unless ``text_scale`` sets the text's.

    Parameters
    ----------
    image
        RGB uint8, ``(H, W, 3)``; drawn on.
    box
        ``(x0, y0, x1, y1)`` in pixels.
    text
        The tag's text; no tag when empty.
    colour
        RGB.
    text_scale
        OpenCV font scale of the text (0.45 is small).
    """
    h, w = image.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, x1 = max(0, min(x0, w - 1)), max(0, min(x1, w - 1))
    y0, y1 = max(0, min(y0, h - 1)), max(0, min(y1, h - 1))
    cv2.rectangle(image, (x0, y0), (x1, y1), (0, 0, 0), thick + 2, lineType=cv2.LINE_AA)
    cv2.rectangle(image, (x0, y0), (x1, y1), colour, thick, lineType=cv2.LINE_AA)
    if not text:
        return
    scale = max(0.4, min(h, w) / 500) if text_scale is None else text_scale
    if text_scale is not None:
        thick = 1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    tx = min(max(0, x0), max(0, w - tw - 4))
    ty = y0 - th - base - 4 if y0 - th - base - 4 >= 0 else min(y0 + 1, max(0, h - th - base - 4))
    cv2.rectangle(image, (tx, ty), (tx + tw + 4, ty + th + base + 4), colour, -1)
    dark = sum(colour) > 380
    cv2.putText(image, text, (tx + 2, ty + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0) if dark else (255, 255, 255), thick, lineType=cv2.LINE_AA)


def draw_marks(rendering: Rendering, regions: Sequence[Region], anomaly_map: np.ndarray | None = None) -> Rendering:
    """A copy of a rendering with regions drawn as numbered marks 1..k (the study's Set-of-Mark form).

    The copy keeps the rendering's class and geometry, so a box named on the marked image maps back to the sample
    exactly like one named on the plain image.

    Parameters
    ----------
    rendering
        The rendering to copy.
    regions
        Regions in the sample's coordinates, projected with :meth:`~genad.Rendering.to_views`; regions that
        project onto no image keep their number but are not drawn.
    anomaly_map
        A 2-D map (images), blended as a heatmap over each image.
    """
    images = [np.array(img, dtype=np.uint8, copy=True) for img in rendering.images]
    if anomaly_map is not None and np.ndim(anomaly_map) == 2:
        images = [blend_heatmap(img, anomaly_map) for img in images]
    for number, region in enumerate(regions, 1):
        colour = MARK_COLOURS[(number - 1) % len(MARK_COLOURS)]
        for view in rendering.to_views(region):
            if view.box is not None and 0 <= view.view < len(images):
                draw_box(images[view.view], view.box, str(number), colour)
    labels = [f"{label} with numbered marks" if label else "numbered marks" for label in rendering.labels]
    return replace(rendering, images=images, labels=labels)


def draw_regions(rendering: Rendering, regions: Sequence[Region]) -> list[np.ndarray]:
    """A rendering's images with regions drawn as boxes coloured by source.

    Parameters
    ----------
    rendering
        The rendering whose images are copied.
    regions
        Regions in the sample's coordinates.
    """
    images = [np.array(img, dtype=np.uint8, copy=True) for img in rendering.images]
    for number, region in enumerate(regions, 1):
        colour = SOURCE_COLOURS.get(region.source, (255, 255, 255))
        for view in rendering.to_views(region):
            if view.box is not None and 0 <= view.view < len(images):
                draw_box(images[view.view], view.box, _tag(number, region), colour)
    return images


def draw_report(report: AnomalyReport, pixels: np.ndarray) -> np.ndarray:
    """An image report drawn on its image: the anomaly map as a heatmap, mask outlines and boxes.

    Each region with a mask gets its outline, each region with a box its rectangle, tagged with its number,
    label and confidence and coloured by source (see :data:`SOURCE_COLOURS`).

    Parameters
    ----------
    report
        A report whose regions are in the image's pixels.
    pixels
        The image, RGB uint8 ``(H, W, 3)``.
    """
    canvas = np.array(pixels, dtype=np.uint8, copy=True)
    if report.anomaly_map is not None and np.ndim(report.anomaly_map) == 2:
        canvas = blend_heatmap(canvas, report.anomaly_map)
    h, w = canvas.shape[:2]
    thick = max(1, round(min(h, w) / 250))
    for number, region in enumerate(report.regions, 1):
        colour = SOURCE_COLOURS.get(region.source, (255, 255, 255))
        if region.mask is not None and region.mask.ndim == 2:
            mask = region.mask.astype(np.uint8)
            if mask.shape != (h, w):
                mask = np.asarray(cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST), dtype=np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(canvas, contours, -1, colour, thick, lineType=cv2.LINE_AA)
        box = region.box
        if box is None and region.mask is not None and region.mask.any():
            ys, xs = np.nonzero(region.mask)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        if box is not None:
            draw_box(canvas, box, _tag(number, region), colour)
    return canvas


def score_plot(report: AnomalyReport, length: int, windows: Sequence[tuple[int, int]] = (), *,
               xlabel: str = "position", values: np.ndarray | None = None) -> np.ndarray:
    """A plot of a report's per-position scores (frames, rows) as an RGB array.

    Parameters
    ----------
    report
        A report with a 1-D anomaly map or interval regions.
    length
        The number of positions.
    windows
        Inclusive ``(start, end)`` intervals to shade (ground truth).
    xlabel
        The x axis's name.
    values
        The series itself, drawn in grey on a second axis when it has ``length`` values.
    """
    from matplotlib.figure import Figure

    from genad.metrics import dense_scores

    scores = dense_scores(report, length)
    fig = Figure(figsize=(6.2, 2.4))
    ax = fig.add_subplot()
    for a, b in windows:
        ax.axvspan(a, b, color="#f4b6b6", alpha=0.6, linewidth=0)
    if values is not None and values.size == length and np.ptp(values) > 0:
        ax2 = ax.twinx()
        ax2.plot(np.arange(length), values, color="#999", linewidth=0.6)
        ax2.set_yticks([])
    ax.plot(np.arange(length), scores, color="#1f5fbf", linewidth=1.0)
    ax.set(xlim=(0, max(length - 1, 1)), xlabel=xlabel, ylabel="score")
    score = "—" if report.score is None else f"{report.score:.3f}"
    ax.set_title(f"score {score}" + (" · truth shaded" if windows else ""), fontsize=9)
    return figure_to_array(fig)


def tint(image: np.ndarray, where: np.ndarray | tuple[float, float, float, float], colour: tuple[int, int, int],
         alpha: float = 0.5) -> np.ndarray:
    """A copy of ``image`` with ``colour`` blended in where a boolean mask or a box ``(x0, y0, x1, y1)`` says.

    Parameters
    ----------
    image
        RGB uint8, ``(H, W, 3)``.
    where
        A boolean ``(H, W)`` mask, or a box in pixels (clipped to the image).
    colour
        RGB.
    alpha
        Opacity of the colour.
    """
    out = np.array(image, dtype=np.uint8, copy=True)
    if isinstance(where, np.ndarray):
        mask = where.astype(bool)
    else:
        h, w = out.shape[:2]
        x0, y0, x1, y1 = where
        mask = np.zeros((h, w), dtype=bool)
        mask[max(0, round(y0)):max(0, min(h, round(y1))), max(0, round(x0)):max(0, min(w, round(x1)))] = True
    if mask.any():
        blended = out[mask].astype(np.float32) * (1 - alpha) + np.asarray(colour, np.float32) * alpha
        out[mask] = blended.astype(np.uint8)
    return out


def heat_strip(scores: np.ndarray, width: int, height: int = 10, left: int = 0, right: int | None = None,
               label: str = "score") -> np.ndarray:
    """A white band with scores drawn as turbo colours: a timeline of scores under a plot or a grid.

    Each pixel column shows the largest score of the positions it covers, so one high score stays visible.

    Parameters
    ----------
    scores
        Scores in [0, 1], in order.
    width, height
        The band's size in pixels.
    left, right
        The columns the scores span (default: the whole width).
    label
        Written before the scores.
    """
    right = width if right is None else right
    strip = np.full((height, width, 3), 255, np.uint8)
    values = np.clip(np.nan_to_num(np.asarray(scores, dtype=np.float32).ravel()), 0.0, 1.0)
    span = max(1, right - left)
    if values.size:
        edges = np.linspace(0, values.size, span + 1).astype(np.int64)
        starts = np.minimum(edges[:-1], values.size - 1)
        column = np.maximum.reduceat(values, starts)
        colours = cv2.applyColorMap((column * 255).astype(np.uint8).reshape(1, -1), cv2.COLORMAP_TURBO)[0]
        strip[:, left:left + span] = cv2.cvtColor(colours[None], cv2.COLOR_BGR2RGB)[0][None, :span]
    if label and left > 8:
        scale = 0.35
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(strip, label, (max(0, left - tw - 4), min(height - 1, (height + th) // 2)),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (60, 60, 60), 1, cv2.LINE_AA)
    return strip


def stack(pictures: Sequence[np.ndarray], gap: int = 4, background: tuple[int, int, int] = (255, 255, 255)
          ) -> np.ndarray:
    """RGB pictures one under the other, left-aligned; narrower ones are padded.

    Parameters
    ----------
    pictures
        RGB uint8 arrays.
    gap
        Pixels between pictures.
    background
        RGB of the gaps and padding.

    Raises
    ------
    ValueError
        When there is nothing to stack.
    """
    if not pictures:
        raise ValueError("nothing to stack")
    width = max(p.shape[1] for p in pictures)
    height = sum(p.shape[0] for p in pictures) + gap * (len(pictures) - 1)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = background
    y = 0
    for p in pictures:
        out[y:y + p.shape[0], :p.shape[1]] = p[:, :, :3]
        y += p.shape[0] + gap
    return out


def mark_region(image: np.ndarray, box: tuple[float, float, float, float], number: int, region: Region, *,
                shade: float = 0.0, tag: bool = True, number_only: bool = False) -> np.ndarray:
    """A copy of an image with a report region marked by a box.

    The box is outlined in the region's source colour (see :data:`SOURCE_COLOURS`). For pictures of rendered
    samples: plots, keyframe grids, views.

    Parameters
    ----------
    image
        RGB uint8, ``(H, W, 3)``.
    box
        ``(x0, y0, x1, y1)`` in pixels.
    number
        The region's number in the report.
    region
        The region (its source, label and confidence).
    shade
        Opacity of the source colour inside the box (0: none).
    tag
        Tag the box with the number, label and confidence, in small text.
    number_only
        Tag it with the number alone (for small boxes, such as regions on point-cloud views).
    """
    colour = SOURCE_COLOURS.get(region.source, (255, 255, 255))
    out = tint(image, box, colour, shade) if shade > 0 else np.array(image, dtype=np.uint8, copy=True)
    text = (str(number) if number_only else _tag(number, region)) if tag else ""
    draw_box(out, box, text, colour, _TAG_SCALE)
    return out


def show(picture: np.ndarray, title: str = "", ax: Axes | None = None) -> Axes:
    """Show an RGB picture on matplotlib axes, without ticks.

    Parameters
    ----------
    picture
        RGB uint8.
    title
        The axes' title (none when empty).
    ax
        The axes; new ones, sized to the picture's shape, when ``None``.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        h, w = picture.shape[:2]
        width = 9.0 if w >= 1.6 * h else 6.0
        _, ax = plt.subplots(figsize=(width, min(12.0, max(2.0, width * h / max(w, 1)))))
    ax.imshow(picture)
    if title:
        ax.set_title(title)
    ax.axis("off")
    return ax


def figure_to_array(fig: Figure, dpi: int = 100) -> np.ndarray:
    """A matplotlib figure as an RGB uint8 array.

    Parameters
    ----------
    fig
        The figure.
    dpi
        Its resolution.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    fig.tight_layout()
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[:, :, :3])


def _tag(number: int, region: Region) -> str:
    text = f"{number} {region.label}".strip()
    return text + (f" {region.confidence:.2f}" if region.confidence is not None else "")
