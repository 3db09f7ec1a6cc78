"""Set-of-Mark drawing on renderings and the report overlay."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from genad import AnomalyReport, Region
from genad.annotate import blend_heatmap, draw_marks, draw_report
from genad.modalities.image import ImageRenderer, ImageRendering, ImageSample


def _sample() -> ImageSample:
    return ImageSample(np.full((400, 600, 3), 128, np.uint8), name="grey")


def test_marks_are_drawn_where_the_regions_project() -> None:
    sample = _sample()
    rendering = ImageRenderer(max_side=300).render(sample)
    regions = [Region(box=(100.0, 100.0, 200.0, 160.0), confidence=0.9, source="expert"),
               Region(box=(400.0, 300.0, 500.0, 380.0), confidence=0.6, source="expert")]
    marked = draw_marks(rendering, regions)
    assert isinstance(marked, ImageRendering)
    assert marked.native_size == rendering.native_size
    changed = np.any(marked.images[0] != rendering.images[0], axis=2)
    assert changed[50, 50:100].any()  # the first box edge at x 50..100, y 50 in the 300x200 view
    assert not changed[120:150, 10:30].any()  # far from both marks
    assert np.all(rendering.images[0] == 128)  # the original is untouched
    assert "numbered marks" in marked.labels[0]


def test_marked_rendering_maps_back_like_the_plain_one() -> None:
    rendering = ImageRenderer(max_side=300).render(_sample())
    marked = draw_marks(rendering, [Region(box=(0.0, 0.0, 60.0, 60.0))])
    from genad import ViewRegion

    view = ViewRegion(0, box=(10.0, 10.0, 20.0, 20.0))
    assert marked.to_native(view).region.box == rendering.to_native(view).region.box  # type: ignore[union-attr]


def test_heatmap_colours_only_high_scores() -> None:
    image = np.full((50, 50, 3), 100, np.uint8)
    scores = np.zeros((10, 10), np.float32)
    scores[:5] = 1.0
    out = blend_heatmap(image, scores)
    assert out.shape == image.shape
    assert np.all(out[45:] == 100)
    assert np.any(out[:20] != 100)


def test_draw_marks_with_anomaly_map() -> None:
    rendering = ImageRenderer(max_side=300).render(_sample())
    heat = np.zeros((400, 600), np.float32)
    heat[:100, :100] = 1.0
    marked = draw_marks(rendering, [], anomaly_map=heat)
    assert np.any(marked.images[0][:40, :40] != 128)
    assert np.all(marked.images[0][150:, 250:] == 128)


def test_report_overlay_draws_map_masks_and_boxes(tmp_path: Path) -> None:
    path = tmp_path / "part.png"
    cv2.imwrite(str(path), np.full((120, 160), 90, np.uint8))
    mask = np.zeros((120, 160), bool)
    mask[30:60, 40:80] = True
    heat = np.zeros((120, 160), np.float32)
    heat[30:60, 40:80] = 0.9
    report = AnomalyReport(
        is_anomalous=True, score=0.9, source=str(path), mode="local", anomaly_map=heat,
        regions=(Region(mask=mask, label="scratch", confidence=0.9, source="expert"),
                 Region(box=(100.0, 80.0, 150.0, 110.0), label="dent", source="vlm")),
    )
    picture = report.picture(path)
    assert picture.shape == (120, 160, 3) and picture.dtype == np.uint8
    assert np.any(picture[45, 60] != 90)  # heatmap inside the mask
    assert np.any(picture[80, 100:150] != 90)  # the VLM box edge
    assert np.all(picture[5:15, 5:15] == 90)  # untouched corner
    same = draw_report(report, ImageSample.from_path(path).pixels)
    assert np.array_equal(same, picture)
