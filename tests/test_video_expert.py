"""VideoExpert: fast movers among slow ones are flagged, in time and in space, whichever way the clip plays."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from genad import ExpertResult
from genad.errors import InputError
from genad.modalities.video import VideoExpert, VideoSample
from genad.modalities.video._expert import anomalous_intervals

FAST = (40, 64)  # frames where the fast object is on screen
FAST_ROWS = (96, 110)


def walkers(n_frames: int = 90, fast: tuple[int, int] | None = FAST, seed: int = 0) -> np.ndarray:
    """Six dark walkers crossing at 1 px/frame over a textured ground; a bright object at 5 px/frame in ``fast``
    (starting over at the left edge every 34 frames)."""
    rng = np.random.default_rng(seed)
    ground = cv2.GaussianBlur((rng.random((120, 192)) * 60 + 90).astype(np.float32), (0, 0), 1.5)
    frames = np.repeat(ground[None], n_frames, axis=0)
    for t in range(n_frames):
        for k in range(6):
            x, y = 20 + 12 * k + t, 8 + 14 * k
            frames[t, y:y + 14, x:x + 8] = 30 + 10 * k
        if fast is not None and fast[0] <= t <= fast[1]:
            x = 5 + 5 * ((t - fast[0]) % 34)
            frames[t, FAST_ROWS[0]:FAST_ROWS[1], x:x + 10] = 230
    return frames.astype(np.uint8)


def truth(n_frames: int = 90, fast: tuple[int, int] = FAST) -> np.ndarray:
    labels = np.zeros(n_frames, dtype=bool)
    labels[fast[0]:fast[1] + 1] = True
    return labels


@pytest.fixture(scope="module")
def result() -> ExpertResult:
    return VideoExpert().score(VideoSample.from_array(walkers(), fps=10.0))


def test_per_frame_scores_rank_the_fast_object_first(result: ExpertResult) -> None:
    scores = result.anomaly_map
    assert scores is not None
    assert scores.shape == (90,)
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert roc_auc_score(truth(), scores) > 0.97
    assert result.is_anomalous
    assert result.raw_score > VideoExpert().speed_ratio
    assert np.median(scores[~truth()]) < 0.5 < np.median(scores[truth()])


def test_intervals_are_frames_and_seconds(result: ExpertResult) -> None:
    assert len(result.regions) == 1
    region = result.regions[0]
    assert region.source == "expert"
    assert region.interval is not None
    first, last = region.interval
    assert abs(first - FAST[0]) <= 5
    assert abs(last - FAST[1]) <= 5
    assert region.span == (first / 10.0, (last + 1) / 10.0)


def test_top_cell_follows_the_fast_object(result: ExpertResult) -> None:
    boxes = result.meta["top_boxes"]
    assert boxes.shape == (90, 4)
    inside = [boxes[t, 1] < FAST_ROWS[1] and boxes[t, 3] > FAST_ROWS[0] for t in range(FAST[0] + 2, FAST[1] - 1)]
    assert all(inside)


def test_frame_heatmap_is_in_native_pixels(result: ExpertResult) -> None:
    heat = VideoExpert.frame_heatmap(result, 50)
    assert heat.shape == (120, 192)
    x0, y0, x1, y1 = result.meta["top_boxes"][50]
    assert heat[y0:y1, x0:x1].min() == pytest.approx(heat.max())


def test_scores_do_not_depend_on_play_direction(result: ExpertResult) -> None:
    backwards = VideoExpert().score(VideoSample.from_array(walkers()[::-1], fps=10.0))
    assert backwards.anomaly_map is not None
    assert result.anomaly_map is not None
    diff = np.abs(backwards.anomaly_map[::-1] - result.anomaly_map)
    assert diff.mean() < 0.05
    assert roc_auc_score(truth(), backwards.anomaly_map[::-1]) > 0.97


def test_normal_clip_scored_against_normal_references_stays_normal() -> None:
    expert = VideoExpert()
    references = [VideoSample.from_array(walkers(60, fast=None, seed=1))]
    normal = expert.score(VideoSample.from_array(walkers(60, fast=None, seed=2)), references)
    assert not normal.is_anomalous
    assert normal.regions == ()
    assert "normal references" in normal.notes[0]


def test_a_mostly_anomalous_clip_is_scored_without_references() -> None:
    fast = (0, 71)  # the fast object is on screen in 80 % of the frames
    out = VideoExpert().score(VideoSample.from_array(walkers(90, fast=fast), fps=10.0))
    assert out.anomaly_map is not None
    labels = truth(90, fast)
    assert roc_auc_score(labels, out.anomaly_map) > 0.97
    assert np.mean(out.anomaly_map[labels] >= 0.5) > 0.9
    assert np.mean(out.anomaly_map[~labels] < 0.5) > 0.9


def test_a_mostly_anomalous_batch_keeps_its_scale() -> None:
    anomalous = [VideoSample.from_array(walkers(60, fast=(0, 59), seed=s)) for s in (3, 4, 5)]
    normal = VideoSample.from_array(walkers(60, fast=None, seed=6))
    results = VideoExpert().score_many([*anomalous, normal])
    assert all(r.is_anomalous for r in results[:3])
    assert not results[3].is_anomalous
    assert "batch of 4 clips" in results[0].notes[0]


def test_perspective_trend_lets_near_walkers_move_faster() -> None:
    """Eight walkers, each row's 1.3 times as fast (in px/frame) as the one above, as under a camera looking down
    a walkway: most frames stay normal with the perspective trend (the largest cell of a frame is still about 1.9
    times the typical speed, as cells hold parts of two walkers), and all are flagged without it."""
    rng = np.random.default_rng(7)
    ground = cv2.GaussianBlur((rng.random((120, 192)) * 60 + 90).astype(np.float32), (0, 0), 1.5)
    frames = np.repeat(ground[None], 40, axis=0)
    for t in range(40):
        for k in range(8):
            x, y = round(10 + 0.6 * 1.3**k * t), 4 + 14 * k
            frames[t, y:y + 12, x:x + 8] = 30 + 8 * k
    video = VideoSample.from_array(frames.astype(np.uint8))
    with_trend = VideoExpert().score(video).anomaly_map
    without = VideoExpert(perspective=False).score(video).anomaly_map
    assert with_trend is not None and without is not None
    assert np.mean(with_trend < 0.5) > 0.8
    assert np.all(without >= 0.5)


def test_score_many_learns_one_scale_for_the_batch() -> None:
    clips = [VideoSample.from_array(walkers(60, fast=(20, 40), seed=s)) for s in (3, 4)]
    results = VideoExpert().score_many(clips)
    assert len(results) == 2
    assert results[0].meta["stats"] is results[1].meta["stats"]
    assert all(r.is_anomalous for r in results)


def test_static_video_has_no_anomaly() -> None:
    frames = np.repeat(walkers(1, fast=None), 12, axis=0)
    out = VideoExpert().score(VideoSample.from_array(frames))
    assert out.score < 0.5
    assert out.regions == ()


def test_expert_pickles_and_rejects_non_videos() -> None:
    expert = pickle.loads(pickle.dumps(VideoExpert(window=5)))
    assert expert.window == 5
    with pytest.raises(InputError):
        expert.score(object())


def test_anomalous_intervals_join_gaps_and_drop_blips() -> None:
    scores = np.array([0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1], dtype=float)
    assert anomalous_intervals(scores) == [(1, 2), (4, 5), (10, 10), (13, 15)]
    assert anomalous_intervals(scores, min_gap=2, min_length=2) == [(1, 5), (13, 15)]
    assert anomalous_intervals(np.zeros(5)) == []


@pytest.mark.shared_data
def test_ucsd_ped2_clip_without_labels(shared_data: Path) -> None:
    root = shared_data / "ucsd_ped2"
    labels = np.asarray(json.loads((root / "labels.json").read_text())["02"]["frame_labels"], dtype=bool)
    out = VideoExpert().score(VideoSample.from_path(root / "frames" / "02", fps=10.0))
    assert out.anomaly_map is not None
    assert roc_auc_score(labels, out.anomaly_map) > 0.95
    hits = []
    for t in np.flatnonzero(labels):
        grey = cv2.imread(str(root / "ground_truth" / "02" / f"{t:03d}_mask.png"), cv2.IMREAD_GRAYSCALE)
        assert grey is not None
        mask = grey > 127
        x0, y0, x1, y1 = out.meta["top_boxes"][t]
        hits.append(mask[y0:y1, x0:x1].any())
    assert np.mean(hits) >= 0.9


@pytest.mark.shared_data
def test_ucsd_ped2_clip_that_is_mostly_anomalous(shared_data: Path) -> None:
    """Clip 05: a slow bike is on screen from the first frame to frame 128 of 150; scored alone, without references."""
    root = shared_data / "ucsd_ped2"
    labels = np.asarray(json.loads((root / "labels.json").read_text())["05"]["frame_labels"], dtype=bool)
    out = VideoExpert().score(VideoSample.from_path(root / "frames" / "05", fps=10.0))
    assert out.anomaly_map is not None
    assert labels.mean() > 0.8
    assert roc_auc_score(labels, out.anomaly_map) > 0.95
    assert np.mean(out.anomaly_map[labels] >= 0.5) > 0.9
    assert np.mean(out.anomaly_map[~labels] < 0.5) > 0.9


def test_confidence_states_how_often_such_verdicts_were_right(result: ExpertResult) -> None:
    from genad.modalities.video._confidence import TABLE

    table = TABLE.read()
    assert table is not None, "src/genad/modalities/video/confidence.json is shipped with the package"
    assert result.confidence is not None and 0.0 < result.confidence <= 1.0
    assert result.notes[-1].startswith("clip alone: anomalous verdicts")
    assert f"verdicts on {len(table['sets'])} UCSD Ped2 clips" in result.notes[-1]
    clip, normal = VideoSample.from_array(walkers(60, seed=1)), VideoSample.from_array(walkers(60, fast=None, seed=2))
    against = VideoExpert().score(clip, [normal])
    assert against.confidence is not None and against.notes[-1].startswith("references:")
    batch = VideoExpert().score_many([clip, normal])
    assert all(r.confidence is not None and r.notes[-1].startswith("batch:") for r in batch)
    other = VideoExpert(cell=16).score(clip)
    assert other.confidence is None and "default settings only" in other.notes[-1]
    assert VideoExpert(chunk=4).score(clip).confidence is not None  # decoding in other chunks scores the same
