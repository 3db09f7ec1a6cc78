"""The local video expert: :class:`VideoExpert` flags regions that move much faster than the scene's usual movers.

Per frame, dense Farneback optical flow (OpenCV) is averaged over grid cells (24 px cells on frames scaled to a
240 px short side). A frame's motion is the mean of its flow to the previous and to the next frame, and each cell
is smoothed over a centred window of frames, so a frame's score never depends on where it sits in the clip or on
the direction the clip is played.

The scale is learnt without labels: cells moving more than ``moving_factor`` times the median (noise) level are
"movers", and their median speed is the typical speed, estimated per grid row (objects nearer the camera move more
pixels per frame) and shrunk towards the overall typical speed for rows with few movers. The statistics come from
the normal ``references`` when given, otherwise from the clip itself (or from the whole batch in
:meth:`VideoExpert.score_many`): a mutual, whole-clip estimate, never a causal one. A cell's ratio ``r`` of speed
to typical speed is mapped to ``[0, 1]`` by a logistic in ``log r``. Its 0.5 point is set from the per-frame peak
ratios: with normal references, ``margin`` times their 99th percentile; without, ``margin`` times the clip's
``normal_share`` quantile (assuming at least that share of its frames is normal), but never below ``speed_ratio``
(2: twice the usual speed, which is what it comes to on UCSD Ped2, where people fill a good part of a cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from genad._expert import ExpertResult
from genad._report import Region
from genad._sample import load_with
from genad.modalities.video._sample import VideoSample

__all__ = ["MotionStats", "VideoExpert", "anomalous_intervals"]

_NOISE_FLOOR = 0.02  # px/frame at the working size: below this, flow is numerical noise


@dataclass(frozen=True)
class MotionStats:
    """The scale motion is judged against: ``noise`` level and ``typical`` mover speed per relative row position
    (px/frame at the working size; ``rows`` are row centres in [0, 1]); ``center`` is the speed ratio that scores
    0.5."""

    noise: float
    typical: float
    rows: np.ndarray
    typical_by_row: np.ndarray
    center: float

    def typical_at(self, n_rows: int) -> np.ndarray:
        """Typical speed for each of ``n_rows`` grid rows (interpolated by relative position)."""
        centres = (np.arange(n_rows) + 0.5) / n_rows
        return np.interp(centres, self.rows, self.typical_by_row)


@dataclass(frozen=True)
class VideoExpert:
    """Optical-flow speed of grid cells against the scene's typical mover speed; see the module docstring.

    ``work_side``: frames are scaled so their short side is at most this many pixels; ``cell``: cell size in those
    pixels; ``window``: frames in the centred smoothing window; ``speed_ratio``: the lowest speed, in typical
    speeds, that scores 0.5 without references; ``sharpness``: slope of the logistic per unit of log-ratio;
    ``moving_factor``: a cell moves if it exceeds this many times the noise level; ``row_prior``: weight (in
    cell-frames) of the overall typical speed in each row's estimate; intervals shorter than ``min_length`` frames
    are dropped after closing gaps shorter than ``min_gap`` frames; ``margin`` and ``normal_share`` set the 0.5
    point (see the module docstring); ``chunk`` frames are decoded at a time.
    """

    work_side: int = 240
    cell: int = 24
    window: int = 9
    speed_ratio: float = 2.0
    sharpness: float = 10.0
    moving_factor: float = 4.0
    row_prior: float = 50.0
    margin: float = 1.25
    normal_share: float = 0.1
    min_gap: int = 5
    min_length: int = 3
    chunk: int = 16

    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        """Score one video against normal reference videos (or against itself when there are none)."""
        video = _as_video(sample)
        speeds = self.cell_speeds(video)
        ref_speeds = [self.cell_speeds(_as_video(r)) for r in references]
        stats = self.fit_stats(ref_speeds, normal=True) if ref_speeds else self.fit_stats([speeds])
        return self._result(video, speeds, stats, from_references=bool(ref_speeds))

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        """Score a batch; without references the motion scale is learnt from all the batch's clips together."""
        videos = [_as_video(s) for s in samples]
        speeds = [self.cell_speeds(v) for v in videos]
        ref_speeds = [self.cell_speeds(_as_video(r)) for r in references]
        stats = self.fit_stats(ref_speeds, normal=True) if ref_speeds else self.fit_stats(speeds)
        from_references = bool(ref_speeds)
        return [self._result(v, s, stats, from_references=from_references) for v, s in zip(videos, speeds, strict=True)]

    def cell_speeds(self, video: VideoSample) -> np.ndarray:
        """Per-frame, per-cell flow speed ``(T, rows, cols)`` in px/frame at the working size, smoothed over
        ``window`` frames."""
        from scipy.ndimage import uniform_filter1d

        pairs = self._pair_speeds(video)
        frames = np.empty((video.n_frames, *pairs.shape[1:]), dtype=np.float32)
        frames[0], frames[-1] = pairs[0], pairs[-1]
        frames[1:-1] = 0.5 * (pairs[:-1] + pairs[1:])
        return uniform_filter1d(frames, self.window, axis=0, mode="nearest")

    def fit_stats(self, speeds: Sequence[np.ndarray], normal: bool = False) -> MotionStats:
        """Noise level and typical mover speed (overall and per relative row) from the cell speeds of some clips
        (grid sizes may differ), and the ratio that scores 0.5; ``normal=True`` says the clips are normal
        references."""
        everything = np.concatenate([s.ravel() for s in speeds])
        noise = max(float(np.median(everything)), _NOISE_FLOOR)
        threshold = self.moving_factor * noise
        movers = everything[everything > threshold]
        typical = float(np.median(movers)) if movers.size else threshold
        n_rows = max(s.shape[1] for s in speeds)
        sums, counts = np.zeros(n_rows), np.zeros(n_rows)
        for s in speeds:
            rows = np.minimum(((np.arange(s.shape[1]) + 0.5) / s.shape[1] * n_rows).astype(int), n_rows - 1)
            for r, target in enumerate(rows):
                v = s[:, r][s[:, r] > threshold]
                if v.size:
                    sums[target] += float(np.median(v)) * v.size
                    counts[target] += v.size
        by_row = (sums + self.row_prior * typical) / (counts + self.row_prior)
        stats = MotionStats(noise, typical, (np.arange(n_rows) + 0.5) / n_rows, by_row, self.speed_ratio)
        peaks = np.concatenate([_frame_peaks(s, stats) for s in speeds])
        if normal:
            return replace(stats, center=self.margin * float(np.quantile(peaks, 0.99)))
        return replace(stats, center=max(self.speed_ratio, self.margin * float(np.quantile(peaks, self.normal_share))))

    def calibrate(self, ratio: np.ndarray, center: float | None = None) -> np.ndarray:
        """Map speed ratios to [0, 1]: logistic in ``log(ratio)``, 0.5 at ``center`` (default ``speed_ratio``)."""
        z = self.sharpness * (np.log(np.maximum(ratio, 1e-6)) - np.log(center or self.speed_ratio))
        return 1.0 / (1.0 + np.exp(-z))

    @staticmethod
    def frame_heatmap(result: ExpertResult, frame: int) -> np.ndarray:
        """The per-cell scores of one frame as an ``(H, W)`` float32 map in the video's native pixels."""
        cells = result.meta["cell_scores"][frame]
        height, width = result.meta["frame_size"]
        rows, cols = cells.shape
        y_edges, x_edges = _edges(height, rows), _edges(width, cols)
        return np.repeat(np.repeat(cells, np.diff(y_edges), axis=0), np.diff(x_edges), axis=1)

    def _result(self, video: VideoSample, speeds: np.ndarray, stats: MotionStats, *,
                from_references: bool) -> ExpertResult:
        n_frames, rows, cols = speeds.shape
        ratio = speeds / stats.typical_at(rows)[None, :, None]
        cell_scores = self.calibrate(ratio, stats.center).astype(np.float32)
        flat = ratio.reshape(n_frames, -1)
        top = flat.argmax(axis=1)
        frame_ratio = flat[np.arange(n_frames), top]
        frame_scores = self.calibrate(frame_ratio, stats.center)
        y_edges, x_edges = _edges(video.height, rows), _edges(video.width, cols)
        top_r, top_c = np.divmod(top, cols)
        top_boxes = np.stack([x_edges[top_c], y_edges[top_r], x_edges[top_c + 1], y_edges[top_r + 1]], axis=1)
        regions = tuple(
            Region(interval=(a, b), span=(video.time_of(a), video.time_of(b + 1)), label="unusually fast motion",
                   confidence=float(frame_scores[a:b + 1].max()), source="expert")
            for a, b in anomalous_intervals(frame_scores, min_gap=self.min_gap, min_length=self.min_length)
        )
        regions = tuple(sorted(regions, key=lambda r: -(r.confidence or 0.0)))
        basis = "normal references" if from_references else "the clip itself (no references)"
        notes = (f"motion scale from {basis}: typical mover speed {stats.typical:.2f} px/frame "
                 f"at {self.work_side} px, noise {stats.noise:.3f}; 0.5 at {stats.center:.2f} times typical",)
        return ExpertResult(
            score=float(frame_scores.max()),
            raw_score=float(frame_ratio.max()),
            anomaly_map=frame_scores.astype(np.float32),
            regions=regions,
            notes=notes,
            meta={"cell_scores": cell_scores, "frame_ratio": frame_ratio.astype(np.float32),
                  "top_boxes": top_boxes.astype(np.int64), "frame_size": (video.height, video.width),
                  "fps": video.fps, "stats": stats},
        )

    def _pair_speeds(self, video: VideoSample) -> np.ndarray:
        """Mean flow magnitude per cell between each pair of consecutive frames: ``(T - 1, rows, cols)``."""
        import cv2

        scale = min(1.0, self.work_side / min(video.height, video.width))
        size = (max(1, round(video.width * scale)), max(1, round(video.height * scale)))
        rows, cols = max(1, round(size[1] / self.cell)), max(1, round(size[0] / self.cell))
        y_edges, x_edges = _edges(size[1], rows), _edges(size[0], cols)
        area = np.outer(np.diff(y_edges), np.diff(x_edges)).astype(np.float32)
        out = np.empty((video.n_frames - 1, rows, cols), dtype=np.float32)
        previous: np.ndarray | None = None
        frames = (f for chunk in video.iter_chunks(range(video.n_frames), self.chunk) for f in chunk)
        for t, frame in enumerate(frames):
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            if scale < 1.0:
                gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            if previous is not None:
                flow = cv2.calcOpticalFlowFarneback(previous, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
                speed = cv2.magnitude(flow[..., 0], flow[..., 1])
                sums = np.add.reduceat(np.add.reduceat(speed, y_edges[:-1], axis=0), x_edges[:-1], axis=1)
                out[t - 1] = sums / area
            previous = gray
        return out


def _frame_peaks(speeds: np.ndarray, stats: MotionStats) -> np.ndarray:
    """Each frame's largest ratio of cell speed to typical speed."""
    ratio = speeds / stats.typical_at(speeds.shape[1])[None, :, None]
    return ratio.reshape(len(ratio), -1).max(axis=1)


def _edges(length: int, parts: int) -> np.ndarray:
    return np.round(np.linspace(0, length, parts + 1)).astype(np.int64)


def anomalous_intervals(scores: np.ndarray, threshold: float = 0.5, *, min_gap: int = 0,
                        min_length: int = 1) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` frame runs where ``scores >= threshold``, after joining runs separated by fewer
    than ``min_gap`` frames and dropping runs shorter than ``min_length``."""
    above = np.concatenate([[False], np.asarray(scores) >= threshold, [False]])
    change = np.flatnonzero(np.diff(above.astype(np.int8)))
    runs = [(int(a), int(b) - 1) for a, b in zip(change[::2], change[1::2], strict=True)]
    joined: list[tuple[int, int]] = []
    for a, b in runs:
        if joined and a - joined[-1][1] - 1 < min_gap:
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    return [(a, b) for a, b in joined if b - a + 1 >= min_length]


def _as_video(obj: Any) -> VideoSample:
    return load_with(VideoSample, obj)
