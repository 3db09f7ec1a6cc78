"""The local video expert: :class:`VideoExpert` flags regions that move much faster than the scene's usual movers.

Per frame, dense Farneback optical flow (OpenCV) is averaged over grid cells (24 px cells on frames scaled to a
240 px short side). A frame's motion is the mean of its flow to the previous and to the next frame, and each cell
is smoothed over a centred window of frames, so a frame's score never depends on where it sits in the clip or on
the direction the clip is played.

A cell's speed is divided by the scene's typical mover speed at its height in the frame. Cells moving more than
``moving_factor`` times the median (noise) level are "movers"; the typical speed is their median, and with
``perspective`` it grows (or shrinks) exponentially from the top of the frame to the bottom (objects nearer the
camera move more pixels per frame): a line fitted to the log of each grid row's median mover speed, weighted by
the row's mover count, held flat beyond the first and last rows with movers. Medians over cell-frames need no
normal *frames*: they hold while fast cells are fewer than half of the moving cells, so an anomaly that is on
screen for the whole clip (but is one object among several movers) does not move the scale much. The statistics
come from the normal ``references`` when given, otherwise from the clip itself (or the whole batch in
:meth:`VideoExpert.score_many`): whole-clip estimates, never causal ones.

A cell's ratio ``r`` of speed to typical speed is mapped to ``[0, 1]`` by a logistic in ``log r`` whose 0.5 point
is fixed at ``speed_ratio`` (2: twice the usual speed) without references, and with normal references is
``margin`` (1.25) times the median of their per-frame peak ratios (a median, not a high quantile: a few odd
reference frames do not move it). No quantile of the scored clip's own
frames enters the score, so the score does not assume that anomalies are rare within a clip or a batch, and one
ratio means the same in every clip scored against the same statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from genad._confidence import params_of
from genad._expert import ExpertResult
from genad._report import Region
from genad._sample import load_with
from genad.modalities.video._confidence import TABLE
from genad.modalities.video._sample import VideoSample

__all__ = ["MotionStats", "VideoExpert", "anomalous_intervals"]

_NOISE_FLOOR = 0.02  # px/frame at the working size: below this, flow is numerical noise


@dataclass(frozen=True)
class MotionStats:
    """The scale motion is judged against, in px/frame at the working size.

    The typical speed at relative row position ``y`` in [0, 1] (0 = top) is
    ``exp(log_intercept + log_slope * y)`` with ``y`` clipped to ``row_span``.

    Parameters
    ----------
    noise
        The median cell speed.
    typical
        The median mover speed over all rows.
    log_intercept, log_slope
        The line of the log of the typical speed over relative row position.
    row_span
        The first and last row positions with movers.
    center
        The speed ratio that scores 0.5.
    """

    noise: float
    typical: float
    log_intercept: float
    log_slope: float
    row_span: tuple[float, float]
    center: float

    def typical_at(self, n_rows: int) -> np.ndarray:
        """Typical speed for each grid row.

        Parameters
        ----------
        n_rows
            The number of grid rows.
        """
        centres = np.clip((np.arange(n_rows) + 0.5) / n_rows, *self.row_span)
        return np.exp(self.log_intercept + self.log_slope * centres)


@dataclass(frozen=True)
class VideoExpert:
    """Optical-flow speed of grid cells against the scene's typical mover speed; see the module docstring.

    Parameters
    ----------
    work_side
        Frames are scaled so their short side is at most this many pixels.
    cell
        Cell size in those pixels.
    window
        Frames in the centred smoothing window.
    speed_ratio
        The speed, in typical speeds, that scores 0.5 without references.
    sharpness
        Slope of the logistic per unit of log-ratio.
    moving_factor
        A cell moves if it exceeds this many times the noise level.
    perspective
        Let the typical speed change from the top rows to the bottom rows.
    margin
        With references, 0.5 is at this many times the median of their per-frame peak ratios.
    min_gap, min_length
        Gaps shorter than ``min_gap`` frames between intervals are closed, then intervals shorter than
        ``min_length`` frames are dropped.
    chunk
        Frames decoded at a time.
    """

    work_side: int = 240
    cell: int = 24
    window: int = 9
    speed_ratio: float = 2.0
    sharpness: float = 10.0
    moving_factor: float = 4.0
    perspective: bool = True
    margin: float = 1.25
    min_gap: int = 5
    min_length: int = 3
    chunk: int = 16

    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        """Score one video against normal reference videos (or against itself when there are none).

        Parameters
        ----------
        sample
            The video (a :class:`VideoSample` or anything it loads from).
        references
            Normal reference videos.
        """
        return self.score_many([sample], references)[0]

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        """Score a batch against normal references.

        Without references the motion scale comes from all the batch's clips together (medians over their moving
        cells, so most of the clips may be anomalous).

        Parameters
        ----------
        samples
            The videos.
        references
            Normal reference videos.
        """
        videos = [_as_video(s) for s in samples]
        speeds = [self.cell_speeds(v) for v in videos]
        ref_speeds = [self.cell_speeds(_as_video(r)) for r in references]
        stats = self.fit_stats(ref_speeds, normal=True) if ref_speeds else self.fit_stats(speeds)
        if ref_speeds:
            basis, regime = f"normal references ({len(ref_speeds)} clips)", "references"
        elif len(videos) == 1:
            basis, regime = "the clip itself (no references)", "clip alone"
        else:
            basis, regime = f"the batch of {len(videos)} clips", "batch"
        return [self.judge(v, s, stats, basis, regime=regime) for v, s in zip(videos, speeds, strict=True)]

    def cell_speeds(self, video: VideoSample) -> np.ndarray:
        """Per-frame, per-cell flow speed ``(T, rows, cols)`` in px/frame at the working size.

        The speeds are smoothed over ``window`` frames.

        Parameters
        ----------
        video
            The video.
        """
        from scipy.ndimage import uniform_filter1d

        pairs = self._pair_speeds(video)
        frames = np.empty((video.n_frames, *pairs.shape[1:]), dtype=np.float32)
        frames[0], frames[-1] = pairs[0], pairs[-1]
        frames[1:-1] = 0.5 * (pairs[:-1] + pairs[1:])
        return uniform_filter1d(frames, self.window, axis=0, mode="nearest")

    def fit_stats(self, speeds: Sequence[np.ndarray], normal: bool = False) -> MotionStats:
        """Noise level, typical mover speed (with its trend over rows) and the ratio that scores 0.5.

        Parameters
        ----------
        speeds
            The :meth:`cell_speeds` of some clips (grid sizes may differ).
        normal
            The clips are normal references: 0.5 is then at ``margin`` times the median of their per-frame peak
            ratios.
        """
        everything = np.concatenate([s.ravel() for s in speeds])
        noise = max(float(np.median(everything)), _NOISE_FLOOR)
        threshold = self.moving_factor * noise
        movers = everything[everything > threshold]
        typical = float(np.median(movers)) if movers.size else threshold
        intercept, slope, span = float(np.log(typical)), 0.0, (0.0, 1.0)
        if self.perspective:
            position, level, weight = [], [], []
            for s in speeds:
                for r in range(s.shape[1]):
                    moving = s[:, r][s[:, r] > threshold]
                    if moving.size:
                        position.append((r + 0.5) / s.shape[1])
                        level.append(float(np.log(np.median(moving))))
                        weight.append(moving.size)
            if len(set(position)) >= 2:
                slope, intercept = (float(c) for c in np.polyfit(position, level, 1, w=np.sqrt(weight)))
                span = (min(position), max(position))
        stats = MotionStats(noise, typical, intercept, slope, span, self.speed_ratio)
        if not normal:
            return stats
        peaks = np.concatenate([_frame_peaks(s, stats) for s in speeds])
        return replace(stats, center=self.margin * float(np.median(peaks)))

    def calibrate(self, ratio: np.ndarray, center: float | None = None) -> np.ndarray:
        """Map speed ratios to [0, 1] by a logistic in ``log(ratio)``.

        Parameters
        ----------
        ratio
            Speed ratios.
        center
            The ratio that maps to 0.5 (default ``speed_ratio``).
        """
        z = self.sharpness * (np.log(np.maximum(ratio, 1e-6)) - np.log(center or self.speed_ratio))
        return 1.0 / (1.0 + np.exp(-z))

    @staticmethod
    def frame_heatmap(result: ExpertResult, frame: int) -> np.ndarray:
        """The per-cell scores of one frame as an ``(H, W)`` float32 map in the video's native pixels.

        Parameters
        ----------
        result
            A result of this expert.
        frame
            The frame's index.
        """
        cells = result.meta["cell_scores"][frame]
        height, width = result.meta["frame_size"]
        rows, cols = cells.shape
        y_edges, x_edges = _edges(height, rows), _edges(width, cols)
        return np.repeat(np.repeat(cells, np.diff(y_edges), axis=0), np.diff(x_edges), axis=1)

    def judge(self, video: VideoSample, speeds: np.ndarray, stats: MotionStats, basis: str,
              regime: str | None = None) -> ExpertResult:
        """The result for one video from its cell speeds and the statistics they are judged against.

        Parameters
        ----------
        video
            The video.
        speeds
            Its :meth:`cell_speeds`.
        stats
            The :meth:`fit_stats` they are judged against.
        basis
            Where those came from, for the notes.
        regime
            How the video was scored (``"clip alone"``, ``"references"``, ``"batch"``): the result's
            ``confidence`` is how often such verdicts were right on UCSD Ped2 (``confidence.json``, written by
            ``benchmarks/video_quality.py --confidence-table``), with a note; ``None``: no confidence stated.
        """
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
        trend = np.exp(stats.log_slope * (stats.row_span[1] - stats.row_span[0]))
        notes: tuple[str, ...] = (
            f"motion scale from {basis}: typical mover speed {stats.typical:.2f} px/frame at {self.work_side} px "
            f"({trend:.2f} times as fast at the lowest rows with movers as at the highest), noise "
            f"{stats.noise:.3f}; 0.5 at {stats.center:.2f} times typical",)
        confidence = None
        if regime is not None:
            confidence, note = TABLE.confidence(params_of(self), regime, float(frame_scores.max()))
            notes += (note,)
        return ExpertResult(
            score=float(frame_scores.max()),
            confidence=confidence,
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
                flow = cv2.calcOpticalFlowFarneback(previous, gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload,unused-ignore]
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
    """Inclusive ``(first, last)`` frame runs where ``scores >= threshold``.

    Parameters
    ----------
    scores
        One score per frame.
    threshold
        The lowest score in a run.
    min_gap
        Runs separated by fewer frames are joined.
    min_length
        Runs shorter than this, after joining, are dropped.
    """
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
