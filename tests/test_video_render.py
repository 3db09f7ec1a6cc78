"""Keyframe selection, keyframe grids and the exact map between grid cells and frames."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest

from genad import Region, ViewRegion
from genad.errors import InputError
from genad.modalities.video import VideoRenderer, VideoRendering, VideoSample
from genad.modalities.video._render import (
    cell_intervals,
    change_keyframes,
    format_time,
    frame_distances,
    select_keyframes,
    uniform_keyframes,
)


def scene_cut_video(n_frames: int = 200, cuts: tuple[int, ...] = (37, 121), fps: float = 10.0) -> VideoSample:
    """Flat grey scenes that switch brightness at ``cuts``, with a slowly moving bar."""
    levels = np.zeros(n_frames)
    for k, cut in enumerate(cuts, 1):
        levels[cut:] = 60 * k
    frames = np.repeat(levels[:, None, None], 48 * 64, axis=1).reshape(n_frames, 48, 64).astype(np.uint8)
    for t in range(n_frames):
        frames[t, 20:28, t % 60: t % 60 + 4] = 255
    return VideoSample.from_array(frames, fps=fps)


def test_uniform_keyframes_include_both_ends_and_respect_the_budget() -> None:
    keys = uniform_keyframes(1000, 12)
    assert len(keys) == 12
    assert keys[0] == 0
    assert keys[-1] == 999
    assert np.all(np.diff(keys) > 0)
    assert uniform_keyframes(5, 12).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(InputError):
        uniform_keyframes(10, 0)


@pytest.mark.parametrize("metric", ["diff", "hist"])
def test_change_based_selection_lands_right_after_scene_cuts(metric: Literal["diff", "hist"]) -> None:
    video = scene_cut_video()
    keys = select_keyframes(video, 8, method="change", metric=metric, candidates_per_keyframe=25)
    assert len(keys) == 8
    assert keys[0] == 0
    assert keys[-1] == video.n_frames - 1
    for cut in (37, 121):
        assert cut in keys  # every frame is a candidate here, so the first frame of each scene is picked
    uniform = select_keyframes(video, 8)
    assert 37 not in uniform
    assert 121 not in uniform


def test_change_keyframes_fill_the_budget_on_a_static_video() -> None:
    candidates = np.arange(0, 100, 5)
    keys = change_keyframes(np.zeros(len(candidates) - 1), candidates, 6)
    assert len(keys) == 6
    assert keys[0] == 0
    assert keys[-1] == 95


def test_frame_distances_and_unknown_options() -> None:
    video = scene_cut_video()
    d = frame_distances(video.read([36, 37, 38]))
    assert d[0] > 10 * d[1]
    with pytest.raises(InputError):
        frame_distances(video.read([0, 1]), "psnr")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        select_keyframes(video, 4, method="random")  # type: ignore[arg-type]


def test_cells_tile_the_video_by_nearest_keyframe() -> None:
    cells = cell_intervals(np.array([0, 10, 30, 99]), 100)
    assert cells.tolist() == [[0, 5], [6, 20], [21, 64], [65, 99]]
    sizes = cells[:, 1] - cells[:, 0] + 1
    assert sizes.sum() == 100


def test_short_video_gives_one_labelled_grid() -> None:
    video = scene_cut_video()
    rendering = VideoRenderer(rows=2, cols=3, cell_width=64).render(video)
    assert isinstance(rendering, VideoRendering)
    assert len(rendering.images) == 1
    assert rendering.noun == "video frames"
    assert '"cells"' in rendering.locate_hint
    image = rendering.images[0]
    assert image.dtype == np.uint8
    assert image.ndim == 3
    assert image.shape[2] == 3
    assert len(rendering.keyframes) == 6
    assert rendering.labels[0].startswith("grid 1 of 1: cells 1-6, frames 0-199")
    box = rendering.cell_boxes[0][4]  # cell 5: second row, middle column; the thumbnail sits under the label
    thumb = image[box[1] + 22:box[3], box[0]:box[2]]
    expected = video.read([rendering.keyframes[4]])[0]
    assert abs(float(thumb.mean()) - float(expected.mean())) < 3


def test_long_video_gives_overlapping_grids_with_shared_cell_numbers() -> None:
    frames = np.zeros((3000, 24, 32), np.uint8)
    frames[:, 8:16, 8:16] = (np.arange(3000) % 256)[:, None, None]
    video = VideoSample.from_array(frames, fps=10.0)  # 300 s
    renderer = VideoRenderer(rows=2, cols=3, cell_width=32, seconds_per_grid=100.0, overlap=2, selection="uniform")
    rendering = renderer.render(video)
    assert len(rendering.images) == 3
    assert len(rendering.keyframes) == 3 * (6 - 2) + 2
    for a, b in zip(rendering.grid_cells[:-1], rendering.grid_cells[1:], strict=True):
        assert a[-2:].tolist() == b[:2].tolist()
    assert rendering.cell_frames[0, 0] == 0
    assert rendering.cell_frames[-1, 1] == 2999


def test_bad_overlap() -> None:
    with pytest.raises(InputError, match="overlap"):
        VideoRenderer(rows=1, cols=2, overlap=2).render(scene_cut_video())


@pytest.fixture(scope="module")
def rendering() -> VideoRendering:
    return VideoRenderer(rows=2, cols=3, cell_width=64, selection="uniform").render(scene_cut_video())


def test_a_cell_maps_to_its_frames_and_seconds(rendering: VideoRendering) -> None:
    keys = rendering.keyframes.tolist()
    assert keys == [0, 40, 80, 119, 159, 199]
    mapped = rendering.to_native(ViewRegion(0, cells=(2,), label="bike", confidence=0.8))
    assert mapped.note is None
    region = mapped.region
    assert region is not None
    assert region.interval == (21, 60)
    assert region.span == (2.1, 6.1)
    assert (region.label, region.confidence, region.view, region.source) == ("bike", 0.8, 0, "vlm")


def test_a_range_of_cells_and_bad_cell_numbers(rendering: VideoRendering) -> None:
    region = rendering.to_native(ViewRegion(0, cells=(3, 4))).region
    assert region is not None
    assert region.interval == (61, 139)
    gap = rendering.to_native(ViewRegion(0, cells=(1, 6)))
    assert gap.region is not None
    assert gap.region.interval == (0, 199)
    assert gap.note is not None
    assert "not consecutive" in gap.note
    partly = rendering.to_native(ViewRegion(0, cells=(6, 9)))
    assert partly.region is not None
    assert partly.region.interval == (180, 199)
    assert partly.note is not None
    assert "[9]" in partly.note
    empty = rendering.to_native(ViewRegion(0, cells=()))
    assert empty.region is not None
    assert empty.region.interval is None
    nothing = rendering.to_native(ViewRegion(0, cells=(0, 7)))
    assert nothing.region is None
    assert rendering.to_native(ViewRegion(3, cells=(1,))).region is None


def test_a_box_on_the_grid_names_the_cells_under_it(rendering: VideoRendering) -> None:
    boxes = rendering.cell_boxes[0]
    x0, y0 = boxes[1][:2]
    small = rendering.to_native(ViewRegion(0, box=(x0 + 5, y0 + 30, x0 + 15, y0 + 40)))
    assert small.region is not None
    assert small.region.interval == (21, 60)
    wide = rendering.to_native(ViewRegion(0, box=(float(boxes[0][0]), float(boxes[0][1]), float(boxes[2][2]) + 3,
                                                  float(boxes[2][3]) + 3)))
    assert wide.region is not None
    assert wide.region.interval == (0, 99)
    outside = rendering.to_native(ViewRegion(0, box=(-50, -50, -10, -10)))
    assert outside.region is None


def test_an_interval_is_read_as_frame_numbers(rendering: VideoRendering) -> None:
    mapped = rendering.to_native(ViewRegion(0, interval=(150.0, 400.0)))
    assert mapped.region is not None
    assert mapped.region.interval == (150, 199)
    assert mapped.note is not None
    assert "clipped" in mapped.note
    assert rendering.to_native(ViewRegion(0)).region is not None


def test_to_views_gives_cell_boxes_split_by_grid_row(rendering: VideoRendering) -> None:
    views = rendering.to_views(Region(interval=(50, 130), source="expert", label="fast"))
    assert [v.cells for v in views] == [(2, 3), (4,)]
    boxes = rendering.cell_boxes[0]
    assert views[0].box == (float(boxes[1][0]), float(boxes[1][1]), float(boxes[2][2]), float(boxes[2][3]))
    assert views[1].label == "fast"
    assert rendering.to_views(Region(box=(0, 0, 1, 1))) == []


def test_round_trip_from_cells_to_frames_and_back(rendering: VideoRendering) -> None:
    for cell in range(1, 7):
        region = rendering.to_native(ViewRegion(0, cells=(cell,))).region
        assert region is not None
        assert [v.cells for v in rendering.to_views(region)] == [(cell,)]


def test_format_time() -> None:
    assert format_time(0.0) == "0:00.0"
    assert format_time(75.25) == "1:15.2"
    assert format_time(3725.0) == "1:02:05.0"
