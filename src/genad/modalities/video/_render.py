"""Videos for a VLM: keyframes laid out as labelled R x C grids, with an exact map from cells back to frames.

Keyframes are chosen :func:`uniform_keyframes` or by change (:func:`change_keyframes`: frame differences or
histogram distances between uniformly spaced candidate frames, so the decoding cost is bounded by the budget).
Cells are numbered 1..K over the whole video, in time order; a long video becomes several grids whose last
``overlap`` cells are repeated at the start of the next grid (with the same numbers).

**How a cell maps to frames.** Cell ``i`` (keyframe ``k_i``) stands for the frames nearer to ``k_i`` than to any
other keyframe: from just after the midpoint with the previous keyframe to the midpoint with the next (the first
cell starts at frame 0, the last ends at the last frame). The cells so tile the video without gaps or overlaps,
and a range of cells maps to the union of their frames. Times are ``frame / fps`` seconds; a frame interval
``(a, b)`` spans ``(a / fps, (b + 1) / fps)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np

from genad._rendering import Mapped, Rendering, ViewRegion
from genad._report import Region
from genad.errors import InputError
from genad.modalities.video._sample import VideoSample

__all__ = ["VideoRenderer", "VideoRendering", "cell_intervals", "change_keyframes", "select_keyframes",
           "uniform_keyframes"]

Selection = Literal["uniform", "change"]
Metric = Literal["diff", "hist"]

_LABEL_HEIGHT = 22
_GAP = 4
_BACKGROUND = 40
_MIN_BOX_SHARE = 0.25  # a box names a cell when it covers this share of the cell (or of itself)


def uniform_keyframes(n_frames: int, budget: int) -> np.ndarray:
    """``min(budget, n_frames)`` evenly spaced frame indices, always including the first and the last frame.

    Parameters
    ----------
    n_frames
        Frames in the video.
    budget
        Keyframes wanted (1: the middle frame).
    """
    if budget < 1 or n_frames < 1:
        raise InputError(f"need a positive budget and frame count, got budget={budget}, n_frames={n_frames}")
    if budget == 1:
        return np.array([n_frames // 2], dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n_frames - 1, min(budget, n_frames))).astype(np.int64))


def frame_distances(frames: Iterable[np.ndarray], metric: Metric = "diff") -> np.ndarray:
    """Distance of each frame to the one before (one value fewer than frames).

    Frames are reduced one at a time, so a generator keeps memory small.

    Parameters
    ----------
    frames
        RGB uint8 frames, in order.
    metric
        ``"diff"``: mean absolute difference of small grey thumbnails, in [0, 1]; ``"hist"``: the Bhattacharyya
        distance of HSV colour histograms.
    """
    import cv2

    if metric not in ("diff", "hist"):
        raise InputError(f"unknown change metric {metric!r}; use 'diff' or 'hist'")
    features = [_change_feature(f, metric) for f in frames]
    if metric == "diff":
        return np.array([float(np.abs(b - a).mean()) for a, b in pairwise(features)])
    return np.array([cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) for a, b in pairwise(features)])


def _change_feature(frame: np.ndarray, metric: Metric) -> np.ndarray:
    import cv2

    if metric == "diff":
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        return cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    hist = cv2.calcHist([cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)], [0, 1, 2], None, [8, 4, 8],
                        [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).astype(np.float32)


def change_keyframes(distances: np.ndarray, candidates: np.ndarray, budget: int, change_weight: float = 0.5,
                     cut_factor: float = 3.0) -> np.ndarray:
    """Pick keyframes among candidate frames so that they are denser where the picture changes.

    The first and last candidates are kept, and so is the candidate after each cut (the largest ones, up to half
    the budget). The other keyframes sit at equal steps of a cumulative curve that grows by ``change_weight``
    times the normalised change plus ``1 - change_weight`` times a uniform step, so static stretches are still
    sampled.

    Parameters
    ----------
    distances
        ``distances[i]`` is the change from candidate ``i`` to ``i + 1``.
    candidates
        Sorted candidate frame indices.
    budget
        Keyframes to pick.
    change_weight
        The weight of change against time in the cumulative curve.
    cut_factor
        A cut is a change above this many times the median change.
    """
    n = len(candidates)
    if budget >= n:
        return np.asarray(candidates, dtype=np.int64)
    by_change = np.argsort(-distances, kind="stable")
    threshold = cut_factor * float(np.median(distances))
    cuts = [int(i) + 1 for i in by_change[: max(0, (budget - 2) // 2)] if distances[i] > threshold]
    chosen = {0, n - 1, *cuts}
    total = float(distances.sum())
    change = distances / total if total > 0 else np.full(n - 1, 1.0 / (n - 1))
    curve = np.concatenate([[0.0], np.cumsum(change_weight * change + (1.0 - change_weight) / (n - 1))])
    free = budget - len(chosen)
    levels = curve[-1] * np.arange(1, free + 1) / (free + 1)
    picks = np.minimum(np.searchsorted(curve, levels - 1e-12), n - 1).tolist()
    fillers = [*picks, *(by_change + 1).tolist(), *range(n)]  # collisions: largest changes, then time order
    for i in fillers:
        if len(chosen) >= budget:
            break
        chosen.add(int(i))
    return np.asarray(candidates, dtype=np.int64)[sorted(chosen)]


def select_keyframes(sample: VideoSample, budget: int, method: Selection = "uniform", metric: Metric = "diff",
                     candidates_per_keyframe: int = 4, change_weight: float = 0.5) -> np.ndarray:
    """Sorted keyframe indices, uniform or by change.

    Parameters
    ----------
    sample
        The video.
    budget
        Keyframes wanted.
    method
        ``"uniform"`` (:func:`uniform_keyframes`) or ``"change"`` (:func:`change_keyframes`).
    metric
        The change metric (see :func:`frame_distances`).
    candidates_per_keyframe
        By change, keyframes are picked among ``candidates_per_keyframe * budget`` evenly spaced candidate frames
        (only those are decoded).
    change_weight
        As for :func:`change_keyframes`.
    """
    if method == "uniform":
        return uniform_keyframes(sample.n_frames, budget)
    if method != "change":
        raise InputError(f"unknown keyframe selection {method!r}; use 'uniform' or 'change'")
    candidates = uniform_keyframes(sample.n_frames, max(budget, budget * candidates_per_keyframe))
    if len(candidates) <= budget:
        return candidates
    distances = frame_distances((f for chunk in sample.iter_chunks(candidates) for f in chunk), metric)
    return change_keyframes(distances, candidates, budget, change_weight)


def cell_intervals(keyframes: np.ndarray, n_frames: int) -> np.ndarray:
    """Inclusive ``(first, last)`` frames each keyframe's cell stands for: the frames nearest to it.

    Parameters
    ----------
    keyframes
        Sorted keyframe indices.
    n_frames
        Frames in the video.
    """
    k = np.asarray(keyframes, dtype=np.int64)
    starts = np.concatenate([[0], (k[:-1] + k[1:]) // 2 + 1])
    ends = np.concatenate([starts[1:] - 1, [n_frames - 1]])
    return np.stack([starts, ends], axis=1)


def format_time(seconds: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss.s`` from one hour on)."""
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


@dataclass(eq=False)
class VideoRendering(Rendering):
    """Keyframe grids; cells are numbered 1..K over all grids and map to frames by :func:`cell_intervals`.

    The fields below add to :class:`~genad.Rendering`'s.

    Parameters
    ----------
    keyframes
        ``keyframes[i]`` is cell ``i + 1``'s frame.
    cell_frames
        ``cell_frames[i]`` is cell ``i + 1``'s inclusive frame interval.
    grid_cells
        ``grid_cells[v]`` lists the 0-based cells on image ``v`` in layout order.
    cell_boxes
        ``cell_boxes[v]`` holds their ``(x0, y0, x1, y1)`` boxes in image ``v``'s pixels (label strip included).
    fps
        The video's frame rate, for times.
    columns
        Cells per grid row.
    """

    keyframes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cell_frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    grid_cells: list[np.ndarray] = field(default_factory=list)
    cell_boxes: list[np.ndarray] = field(default_factory=list)
    fps: float = 1.0
    columns: int = 1

    def frames_of(self, cells: tuple[int, ...]) -> tuple[int, int]:
        """The inclusive frame interval covering some cells.

        Parameters
        ----------
        cells
            1-based cell numbers.
        """
        idx = np.asarray(cells) - 1
        return int(self.cell_frames[idx, 0].min()), int(self.cell_frames[idx, 1].max())

    def to_native(self, region: ViewRegion) -> Mapped:
        bad = self.missing_view(region.view)
        if bad is not None:
            return bad
        if region.cells:  # an empty list names no cell: fall through to the box, the interval or no location
            return self._map_cells(region, tuple(region.cells), "")
        if region.box is not None:
            cells = self._cells_under(region.view, region.box)
            if not cells:
                return Mapped(None, f"dropped box {list(region.box)} on image {region.view + 1}: it covers no cell")
            return self._map_cells(region, cells, f"read box {list(region.box)} as cells {list(cells)}")
        if region.interval is not None:
            return self._map_frames(region)
        return Mapped(Region(label=region.label, confidence=region.confidence, view=region.view))

    def to_views(self, region: Region) -> list[ViewRegion]:
        if region.interval is None:
            return []
        first, last = region.interval
        views = []
        for view, (cells, boxes) in enumerate(zip(self.grid_cells, self.cell_boxes, strict=True)):
            hit = (self.cell_frames[cells, 1] >= first) & (self.cell_frames[cells, 0] <= last)
            for run in _row_runs(np.flatnonzero(hit), self.columns):
                x0, y0 = boxes[run, 0].min(), boxes[run, 1].min()
                x1, y1 = boxes[run, 2].max(), boxes[run, 3].max()
                views.append(ViewRegion(view, box=(float(x0), float(y0), float(x1), float(y1)),
                                        cells=tuple(int(c) + 1 for c in cells[run]), label=region.label,
                                        confidence=region.confidence))
        return views

    def _region(self, region: ViewRegion, first: int, last: int) -> Region:
        span = (first / self.fps, (last + 1) / self.fps)
        return Region(interval=(first, last), span=span, label=region.label, confidence=region.confidence,
                      view=region.view)

    def _map_cells(self, region: ViewRegion, cells: tuple[int, ...], note: str) -> Mapped:
        n_cells = len(self.keyframes)
        notes = [note] if note else []
        valid = tuple(sorted({int(c) for c in cells if 1 <= int(c) <= n_cells}))
        if len(valid) < len(set(cells)):
            notes.append(f"dropped cells {sorted(set(cells) - set(valid))}: cells are numbered 1 to {n_cells}")
        if not valid:
            return Mapped(None, "; ".join(notes))
        on_view = set((self.grid_cells[region.view] + 1).tolist())
        elsewhere = [c for c in valid if c not in on_view]
        if elsewhere:
            notes.append(f"cells {elsewhere} are not on image {region.view + 1}; mapped by their numbers")
        if valid[-1] - valid[0] + 1 > len(valid):
            notes.append(f"cells {list(valid)} are not consecutive; mapped to the frames from cell {valid[0]} "
                         f"to cell {valid[-1]}")
        first, last = self.frames_of(valid)
        return Mapped(self._region(region, first, last), "; ".join(notes) or None)

    def _map_frames(self, region: ViewRegion) -> Mapped:
        assert region.interval is not None
        n_frames = int(self.cell_frames[-1, 1]) + 1
        lo, hi = sorted(region.interval)
        first, last = max(0, int(np.floor(lo))), min(n_frames - 1, int(np.ceil(hi)))
        if last < first:
            return Mapped(None, f"dropped interval {list(region.interval)}: outside frames 0-{n_frames - 1}")
        note = f"read interval {list(region.interval)} as frame numbers"
        if (first, last) != (lo, hi):
            note += f", clipped to {first}-{last}"
        return Mapped(self._region(region, first, last), note)

    def _cells_under(self, view: int, box: tuple[float, float, float, float]) -> tuple[int, ...]:
        x0, x1 = sorted((box[0], box[2]))
        y0, y1 = sorted((box[1], box[3]))
        boxes = self.cell_boxes[view].astype(np.float64)
        width = np.clip(np.minimum(boxes[:, 2], x1) - np.maximum(boxes[:, 0], x0), 0, None)
        height = np.clip(np.minimum(boxes[:, 3], y1) - np.maximum(boxes[:, 1], y0), 0, None)
        inter = width * height
        cell_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        share = inter / np.maximum(np.minimum(cell_area, max((x1 - x0) * (y1 - y0), 1e-9)), 1e-9)
        return tuple(int(c) + 1 for c in self.grid_cells[view][share >= _MIN_BOX_SHARE])


def _row_runs(positions: np.ndarray, columns: int) -> list[np.ndarray]:
    """Split layout positions into runs that are consecutive and on one grid row."""
    runs: list[list[int]] = []
    for p in positions.tolist():
        if runs and p == runs[-1][-1] + 1 and p // columns == runs[-1][-1] // columns:
            runs[-1].append(p)
        else:
            runs.append([p])
    return [np.asarray(r) for r in runs]


@dataclass(frozen=True)
class VideoRenderer:
    """Lay a video's keyframes out as grids, each cell labelled with its number, frame and time.

    Parameters
    ----------
    rows, cols
        The rows and columns of cells in a grid.
    cell_width
        Thumbnail width in pixels.
    max_grids
        The most grids a video gets.
    seconds_per_grid
        A video gets one grid per this many seconds (at least one, at most ``max_grids``).
    overlap
        Cells consecutive grids share.
    selection
        ``"uniform"`` or ``"change"`` (see :func:`select_keyframes`).
    metric
        ``"diff"`` or ``"hist"``: the change metric.
    candidates_per_keyframe
        As for :func:`select_keyframes`.
    """

    rows: int = 3
    cols: int = 4
    cell_width: int = 256
    max_grids: int = 4
    seconds_per_grid: float = 60.0
    overlap: int = 2
    selection: Selection = "change"
    metric: Metric = "diff"
    candidates_per_keyframe: int = 4

    def keyframe_budget(self, sample: VideoSample) -> int:
        """How many keyframes a video gets: enough cells for its grids, at most one per frame.

        Parameters
        ----------
        sample
            The video.

        Raises
        ------
        InputError
            When ``overlap`` is not less than the cells of a grid.
        """
        per_grid = self.rows * self.cols
        if not 0 <= self.overlap < per_grid:
            raise InputError(f"overlap must be in [0, {per_grid}), got {self.overlap}")
        n_grids = int(np.clip(np.ceil(sample.duration / self.seconds_per_grid), 1, self.max_grids))
        return min(sample.n_frames, n_grids * (per_grid - self.overlap) + self.overlap)

    def render(self, sample: VideoSample) -> VideoRendering:
        keyframes = select_keyframes(sample, self.keyframe_budget(sample), self.selection, self.metric,
                                     self.candidates_per_keyframe)
        thumbs = np.stack([self._thumbnail(f, sample.height, sample.width)
                           for chunk in sample.iter_chunks(keyframes) for f in chunk])
        per_grid, step = self.rows * self.cols, self.rows * self.cols - self.overlap
        starts = list(range(0, max(1, len(keyframes) - self.overlap), step))
        cell_frames = cell_intervals(keyframes, sample.n_frames)
        images, labels, grid_cells, cell_boxes = [], [], [], []
        for g, start in enumerate(starts):
            cells = np.arange(start, min(start + per_grid, len(keyframes)))
            image, boxes = self._grid(thumbs[cells], cells, keyframes[cells], sample.fps)
            first, last = int(cell_frames[cells[0], 0]), int(cell_frames[cells[-1], 1])
            labels.append(f"grid {g + 1} of {len(starts)}: cells {cells[0] + 1}-{cells[-1] + 1}, frames "
                          f"{first}-{last}, {format_time(first / sample.fps)}-{format_time((last + 1) / sample.fps)}")
            images.append(image)
            grid_cells.append(cells)
            cell_boxes.append(boxes)
        hint = ('Point at anomalous events by grid cell: give "cells": [numbers], the cell numbers printed at the '
                'top-left of the cells that show the event (each cell is one keyframe, labelled with its frame '
                'number and time), and "image": the grid they are in; leave "box" and "interval" null.')
        return VideoRendering(
            images=images, labels=labels, noun="video frames", locate_hint=hint,
            answer_fields=("cells", "box", "interval"),
            meta={"selection": self.selection, "n_frames": sample.n_frames, "fps": sample.fps},
            keyframes=keyframes, cell_frames=cell_frames, grid_cells=grid_cells, cell_boxes=cell_boxes,
            fps=sample.fps, columns=self.cols,
        )

    def _thumbnail(self, frame: np.ndarray, height: int, width: int) -> np.ndarray:
        import cv2

        size = (self.cell_width, max(1, round(self.cell_width * height / width)))
        interp = cv2.INTER_AREA if width > self.cell_width else cv2.INTER_LINEAR
        return cv2.resize(frame, size, interpolation=interp)

    def _grid(self, thumbs: np.ndarray, cells: np.ndarray, frames: np.ndarray,
              fps: float) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        th, tw = thumbs.shape[1:3]
        ch, cw = th + _LABEL_HEIGHT, tw
        image = np.full((self.rows * (ch + _GAP) + _GAP, self.cols * (cw + _GAP) + _GAP, 3), _BACKGROUND, np.uint8)
        boxes = np.zeros((len(cells), 4), dtype=np.int64)
        for pos, (thumb, cell, frame) in enumerate(zip(thumbs, cells, frames, strict=True)):
            r, c = divmod(pos, self.cols)
            x0, y0 = _GAP + c * (cw + _GAP), _GAP + r * (ch + _GAP)
            image[y0:y0 + _LABEL_HEIGHT, x0:x0 + cw] = 0
            image[y0 + _LABEL_HEIGHT:y0 + ch, x0:x0 + cw] = thumb
            number = str(cell + 1)
            cv2.putText(image, number, (x0 + 4, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 230, 0), 2,
                        cv2.LINE_AA)
            (number_width, _), _ = cv2.getTextSize(number, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 2)
            text = f"frame {frame}  {format_time(frame / fps)}"
            cv2.putText(image, text, (x0 + number_width + 14, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 255), 1, cv2.LINE_AA)
            boxes[pos] = (x0, y0, x0 + cw, y0 + ch)
        return image, boxes
