"""Pictures of reports for every modality, and the notebook views of a report (``_repr_html_``, ``_repr_png_``).

Each picture is checked where it should show something: the flagged points, cells or intervals are painted in
their region's source colour, and nothing else is.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from genad import AnomalyReport, ModalityBase, Region, Rendering, ViewRegion, get_modality
from genad.annotate import SOURCE_COLOURS, heat_strip, stack, tint
from genad.modalities.pointcloud import PointCloudRendering, PointCloudSample
from genad.modalities.series import SeriesRendering, SeriesSample
from genad.modalities.video import VideoRendering, VideoSample

matplotlib.use("Agg")

ORANGE = np.array(SOURCE_COLOURS["expert"], dtype=np.float32)


def _report(modality: str, regions: tuple[Region, ...] = (), source: str | None = None,
            anomaly_map: np.ndarray | None = None, **kw: object) -> AnomalyReport:
    fields: dict[str, object] = {"is_anomalous": True, "score": 0.91, "anomaly_type": "dent", "regions": regions,
                                 "modality": modality, "source": source, "mode": "local", "model": None,
                                 "anomaly_map": anomaly_map}
    fields.update(kw)
    return AnomalyReport(**fields)  # type: ignore[arg-type]


def _orangeness(pixels: np.ndarray) -> np.ndarray:
    """How far each pixel has moved towards the expert's orange: red minus blue, in [-255, 255]."""
    p = pixels.astype(np.float32)
    return p[..., 0] - p[..., 2]


# -- drawing helpers --------------------------------------------------------------------------------------------


def test_tint_blends_a_mask_or_a_box_and_leaves_the_rest() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    boxed = tint(image, (5, 2, 10, 6), (200, 100, 0), 0.5)
    assert (boxed[2:6, 5:10] == (100, 50, 0)).all()
    assert boxed.sum() == 100 * 20 + 50 * 20 and image.sum() == 0  # a copy: the input is untouched
    mask = np.zeros((10, 20), bool)
    mask[0, 0] = True
    assert tuple(tint(image, mask, (255, 255, 255), 1.0)[0, 0]) == (255, 255, 255)


def test_heat_strip_keeps_a_single_high_score_visible() -> None:
    scores = np.zeros(5000)
    scores[3210] = 1.0
    strip = heat_strip(scores, 300, 10, left=50, right=250)
    assert strip.shape == (10, 300, 3)
    red = _orangeness(strip[5]) > 100
    assert red.sum() == 1 and 50 + int(200 * 3210 / 5000) - 1 <= int(np.flatnonzero(red)[0]) <= 50 + 129


def test_stack_pads_narrow_pictures() -> None:
    out = stack([np.zeros((3, 4, 3), np.uint8), np.zeros((2, 6, 3), np.uint8)], gap=1)
    assert out.shape == (6, 6, 3) and (out[0, 4:] == 255).all() and (out[3] == 255).all()


# -- point clouds -----------------------------------------------------------------------------------------------


def _sphere(n: int = 4000) -> PointCloudSample:
    v = np.random.default_rng(0).normal(size=(n, 3))
    return PointCloudSample.from_array(v / np.linalg.norm(v, axis=1, keepdims=True))


def test_pointcloud_picture_paints_exactly_the_flagged_points() -> None:
    modality = get_modality("pointcloud")
    sample = _sphere()
    cap = np.flatnonzero(sample.points[:, 2] > 0.85)
    plain = modality.picture(_report("pointcloud"), sample)
    flagged = modality.picture(_report("pointcloud", (Region(indices=cap, source="expert", label="bump"),)), sample)
    assert plain.shape == flagged.shape and plain.dtype == np.uint8
    moved = _orangeness(flagged) - _orangeness(plain) > 60
    rendering = modality.default_renderer().render(sample)
    assert isinstance(rendering, PointCloudRendering)
    where = np.zeros(plain.shape[:2], bool)
    for point_map, (ox, oy) in zip(rendering.point_maps, rendering.view_origins, strict=True):
        h, w = point_map.shape
        where[oy:oy + h, ox:ox + w] = np.isin(point_map, cap)
    assert where.sum() > 200
    assert moved[where].mean() > 0.95  # the cap's visible pixels are painted ...
    boxes = np.zeros_like(where)
    for view in rendering.to_views(Region(indices=cap)):
        assert view.box is not None
        x0, y0, x1, y1 = (round(v) for v in view.box)
        boxes[max(0, y0 - 30):y1 + 6, max(0, x0 - 6):x1 + 6] = True  # the box, its outline and its tag
    assert not moved[~boxes].any()  # ... and nothing outside the boxes drawn around them


def test_pointcloud_picture_shows_point_scores_as_a_heatmap() -> None:
    modality = get_modality("pointcloud")
    sample = _sphere()
    scores = (sample.points[:, 0] > 0.5).astype(np.float32)
    hot = modality.picture(_report("pointcloud", anomaly_map=scores), sample)
    cold = modality.picture(_report("pointcloud", anomaly_map=np.zeros(len(scores), np.float32)), sample)
    assert np.abs(hot.astype(int) - cold.astype(int)).sum(axis=2).astype(bool).sum() > 1000
    wrong_length = modality.picture(_report("pointcloud", anomaly_map=np.ones(5, np.float32)), sample)
    np.testing.assert_array_equal(wrong_length, cold)  # a map that does not fit the cloud is not drawn


# -- videos -----------------------------------------------------------------------------------------------------


def _video(n: int = 60) -> VideoSample:
    frames = np.zeros((n, 48, 64, 3), np.uint8)
    frames[:, :, :] = np.linspace(40, 200, n, dtype=np.uint8)[:, None, None, None]
    return VideoSample.from_array(frames, fps=10.0)


def test_video_picture_marks_the_flagged_frames_cells() -> None:
    modality = get_modality("video")
    sample = _video()
    region = Region(interval=(20, 29), source="expert", label="fall")
    plain = modality.picture(_report("video"), sample)
    marked = modality.picture(_report("video", (region,)), sample)
    rendering = modality.default_renderer().render(sample)
    assert isinstance(rendering, VideoRendering)
    assert len(rendering.images) == 1 and plain.shape == rendering.images[0].shape
    hit = (rendering.cell_frames[:, 1] >= 20) & (rendering.cell_frames[:, 0] <= 29)
    assert 0 < hit.sum() < len(hit)
    change = _orangeness(marked) - _orangeness(plain)
    for cell, (x0, y0, x1, y1) in zip(rendering.grid_cells[0], rendering.cell_boxes[0], strict=True):
        inner = change[y0 + 30:y1 - 8, x0 + 6:x1 - 6]  # inside the cell, away from its frame and tag
        assert (inner.mean() > 30) == bool(hit[cell]), f"cell {cell + 1}"


def test_video_picture_bars_show_per_frame_scores() -> None:
    modality = get_modality("video")
    sample = _video()
    scores = np.zeros(sample.n_frames, np.float32)
    scores[45:] = 1.0
    picture = modality.picture(_report("video", anomaly_map=scores), sample)
    rendering = modality.default_renderer().render(sample)
    assert isinstance(rendering, VideoRendering)
    for cell, (x0, _y0, x1, y1) in zip(rendering.grid_cells[0], rendering.cell_boxes[0], strict=True):
        bar = picture[y1 - 3, x0 + 2:x1 - 2].astype(int)
        high = rendering.cell_frames[cell, 1] >= 45
        assert (bar[:, 0].mean() > bar[:, 2].mean() + 50) == bool(high), f"cell {cell + 1}"


# -- series -----------------------------------------------------------------------------------------------------


def _series(n: int = 500) -> SeriesSample:
    index = pd.date_range("2024-03-01", periods=n, freq="1min")
    values = pd.DataFrame({"supply air temperature (°C)": np.sin(np.arange(n) / 20),
                           "fan speed": np.cos(np.arange(n) / 15)}, index=index)
    return SeriesSample.from_array(values)


def test_series_picture_shades_the_flagged_interval_and_only_it() -> None:
    modality = get_modality("series")
    sample = _series()
    region = Region(interval=(200, 259), source="expert", label="drift")
    plain = modality.picture(_report("series"), sample)
    shaded = modality.picture(_report("series", (region,)), sample)
    assert plain.shape == shaded.shape
    renderer = modality.default_renderer()
    rendering = renderer.render(sample)  # 500 points: one window, the same axes as the picture's
    (view,) = rendering.to_views(region)
    assert view.box is not None
    x0, top, x1, bottom = (round(v) for v in view.box)
    change = _orangeness(shaded) - _orangeness(plain)
    middle = (top + bottom) // 2
    assert (change[middle, x0 + 3:x1 - 3] > 20).mean() > 0.8
    outside = np.ones(shaded.shape[1], bool)
    outside[x0 - 12:x1 + 12] = False
    assert not (np.abs(change[top + 40:bottom - 5][:, outside]) > 20).any()


def test_series_picture_has_a_score_strip_under_the_plot() -> None:
    modality = get_modality("series")
    sample = _series()
    scores = np.zeros(sample.length, np.float32)
    scores[300:310] = 1.0
    without = modality.picture(_report("series"), sample)
    picture = modality.picture(_report("series", anomaly_map=scores), sample)
    assert picture.shape[0] > without.shape[0]
    strip = picture[without.shape[0] + 6]
    rendering = modality.default_renderer().render(sample)
    assert isinstance(rendering, SeriesRendering)
    left, _, right, _ = rendering.plot_px[0]
    lo, hi = rendering.xlims[0]
    red = np.flatnonzero(_orangeness(strip) > 100)
    expected = left + (np.array([300, 309]) - lo) / (hi - lo) * (right - left)
    assert red.size and expected[0] - 3 <= red.min() and red.max() <= expected[1] + 3


# -- images and plots -------------------------------------------------------------------------------------------


def test_image_picture_draws_the_map_and_boxes() -> None:
    pixels = np.full((60, 80, 3), 128, np.uint8)
    amap = np.zeros((60, 80), np.float32)
    amap[10:20, 10:20] = 1.0
    report = _report("image", (Region(box=(40, 30, 70, 55), source="vlm", label="cut"),), anomaly_map=amap)
    picture = report.picture(pixels)
    assert picture.shape == pixels.shape
    assert not (picture[15, 15] == 128).all()  # the heatmap
    assert (picture[45, 40] != 128).any()  # the box's left edge


@pytest.mark.parametrize("modality", ["image", "pointcloud", "video", "series"])
def test_plot_shows_the_picture_with_the_headline(modality: str) -> None:
    samples = {"image": np.full((40, 50, 3), 90, np.uint8), "pointcloud": _sphere(1500), "video": _video(20),
               "series": _series(100)}
    report = _report(modality)
    ax = report.plot(samples[modality])
    assert ax.get_title() == report.headline == "anomalous (0.91): dent"
    shown = ax.get_images()[0].get_array()
    assert shown is not None
    np.testing.assert_array_equal(np.asarray(shown), report.picture(samples[modality]))
    import matplotlib.pyplot as plt

    plt.close("all")


# -- notebook views ---------------------------------------------------------------------------------------------


def _png_of(html: str) -> np.ndarray:
    found = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert found is not None, html[-500:]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(found.group(1)))))


@pytest.fixture
def series_file(tmp_path: Path) -> Path:
    path = tmp_path / "load.csv"
    _series(300).to_frame().rename_axis("timestamp").to_csv(path)
    return path


def test_html_view_has_the_facts_the_regions_the_notes_and_the_picture(series_file: Path) -> None:
    regions = (Region(interval=(100, 120), span=("2024-03-01 01:40", "2024-03-01 02:00"), source="expert",
                      label="drift <fast>", confidence=0.82),
               Region(interval=(200, 201), source="vlm"))
    report = _report("series", regions, str(series_file), confidence=0.7,
                     notes=("scored against 0 references", "a <b>bold</b> note"), explanation="It drifts & falls.")
    html = report._repr_html_()
    assert "anomalous" in html and "0.910" in html and "dent" in html and "confidence 0.70" in html
    assert html.count("<tr>") == 3  # the header and one row per region
    assert "100 to 120" in html and "drift &lt;fast&gt;" in html and "0.82" in html
    assert "a &lt;b&gt;bold&lt;/b&gt; note" in html and "It drifts &amp; falls." in html
    assert str(series_file) in html
    shown = _png_of(html)
    picture = report.picture()
    factor = -(-max(picture.shape[:2]) // 1200)
    assert shown.shape == (picture.shape[0] // factor, picture.shape[1] // factor, 3)
    assert max(shown.shape[:2]) <= 1200


def test_png_view_is_the_picture_made_compact(series_file: Path) -> None:
    report = _report("series", (Region(interval=(10, 40), source="expert"),), str(series_file))
    data = report._repr_png_()
    assert data is not None and data.startswith(b"\x89PNG")
    shown = np.asarray(Image.open(io.BytesIO(data)))
    picture = report.picture()
    factor = -(-max(picture.shape[:2]) // 480)
    h, w = picture.shape[0] // factor, picture.shape[1] // factor
    assert shown.shape == (h, w, 3) and max(h, w) <= 480
    expected = picture[:h * factor, :w * factor].reshape(h, factor, w, factor, 3).mean(axis=(1, 3))
    assert np.abs(shown.astype(float) - expected).max() <= 1.0  # block averages, losslessly encoded


def test_a_report_without_a_picture_shows_its_text_and_never_raises(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    no_source = _report("series", (Region(interval=(1, 2)),))
    assert "<img" not in no_source._repr_html_() and "anomalous" in no_source._repr_html_()
    assert no_source._repr_png_() is None

    missing = _report("series", source=str(tmp_path / "gone.csv"))
    html = missing._repr_html_()
    assert "<img" not in html and "no picture" in html and "anomalous" in html
    assert missing._repr_png_() is None

    unknown = _report("hologram", source=str(tmp_path / "x.holo"))
    assert "<img" not in unknown._repr_html_() and unknown._repr_png_() is None

    class Blind(ModalityBase):
        name = "blind"

        def picture(self, report: AnomalyReport, sample: object = None) -> np.ndarray:
            raise RuntimeError("cannot draw")

    from genad import _registry

    monkeypatch.setitem(_registry._load_all(), "blind", Blind())
    blind = _report("blind", source=str(tmp_path / "x"))
    assert "cannot draw" in blind._repr_html_() and blind._repr_png_() is None

    failed = AnomalyReport.failed(ValueError("bad <input>"), modality="series", source=str(tmp_path / "x.csv"))
    html = failed._repr_html_()
    assert "error" in html and "ValueError" in html and "bad &lt;input&gt;" in html and "<img" not in html


def test_the_picture_is_drawn_once_for_both_views(series_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modality = get_modality("series")
    calls = []
    original = type(modality).picture

    def counting(self: ModalityBase, report: AnomalyReport, sample: object = None) -> np.ndarray:
        calls.append(report)
        return original(self, report, sample)  # type: ignore[arg-type]

    monkeypatch.setattr(type(modality), "picture", counting)
    report = _report("series", source=str(series_file))
    assert report._repr_html_() and report._repr_png_()
    assert len(calls) == 1
    from genad import _report as module

    for _ in range(6):  # only the last few pictures are kept
        other = _report("series", source=str(series_file))
        other._repr_png_()
    assert len(module._PICTURES) <= module._PICTURES_KEPT
    report._repr_png_()
    assert len(calls) == 8  # the first report's picture was let go, and is drawn again


def test_the_report_type_draws_nothing_itself() -> None:
    """Showing a report without a picture imports no drawing library: drawing is the modality's business."""
    code = ("import sys; from genad import AnomalyReport; "
            "r = AnomalyReport(is_anomalous=True, score=0.5, modality='image'); "
            "assert r._repr_html_() and r._repr_png_() is None; "
            "print(sorted(m for m in ('cv2', 'matplotlib', 'PIL', 'genad.annotate') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


class _TwoImages(Rendering):
    """Two black images; a box region is placed on the second."""

    def to_views(self, region: Region) -> list[ViewRegion]:
        return [] if region.box is None else [ViewRegion(1, box=region.box)]


class _TwoImageRenderer:
    def render(self, sample: object) -> Rendering:
        return _TwoImages(images=[np.zeros((20, 30, 3), np.uint8), np.zeros((16, 40, 3), np.uint8)])


class _PlainModality(ModalityBase):
    """A plug-in that keeps the default picture."""

    name = "plain"

    def load(self, obj: object, *, name: str | None = None) -> object:
        return obj

    def default_renderer(self) -> _TwoImageRenderer:
        return _TwoImageRenderer()


def test_the_default_picture_stacks_every_image_with_the_regions_drawn() -> None:
    report = _report("plain", (Region(box=(10, 4, 30, 12), source="vlm"),))
    picture = _PlainModality().picture(report, object())
    assert picture.shape == (20 + 4 + 16, 40, 3)
    second = picture[24:]
    cyan = np.all(second == SOURCE_COLOURS["vlm"], axis=2)
    assert cyan[4:12, 10].any() and not np.all(picture[:20, :30] == SOURCE_COLOURS["vlm"], axis=2).any()
