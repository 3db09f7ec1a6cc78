"""Videos: :class:`VideoSample`, a lazy frame source over a video file, a folder of frames or an array.

Nothing is decoded up front beyond the probes that validate the input: :meth:`VideoSample.read` decodes exactly
the frames asked for. In a video file it seeks to far frames (the decoder starts at the keyframe before the target)
and steps through near ones, so sampling 40 keyframes of a 10-minute video decodes a few hundred frames, not all.

A video needs at least two frames: a one-frame "video" has no motion to judge, so it is rejected with
:class:`~genad.errors.InputError` (score it as an image instead).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from genad._pixels import to_uint8
from genad.errors import CorruptInputError, EmptyInputError, InputError, UnsupportedInputError

__all__ = ["DEFAULT_FPS", "FRAME_SUFFIXES", "VIDEO_SUFFIXES", "VideoSample"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
FRAME_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")
DEFAULT_FPS = 25.0
"""Frame rate assumed for folders of frames and arrays when none is given (and for files that do not say)."""

SEEK_AFTER = 16
"""Step through gaps of up to this many frames with ``grab()``; seek past longer ones."""
MISSING_FRAMES_TOLERATED = 2
"""Containers that estimate their frame count (mkv, webm) may overstate it by this much without being truncated."""

Indices = Sequence[int] | np.ndarray | range


class FrameSource(Protocol):
    """Where a :class:`VideoSample`'s frames come from.

    Attributes
    ----------
    n_frames
        Frames in the video.
    height, width
        A frame's size in pixels.
    """

    n_frames: int
    height: int
    width: int

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Some frames as ``(K, H, W, 3)`` RGB uint8.

        Parameters
        ----------
        indices
            Sorted unique frame indices.
        """
        ...


@dataclass(frozen=True, eq=False)
class VideoSample:
    """A video as a lazy sequence of RGB frames: :meth:`read` decodes only what it is asked for. Build one with
    :meth:`from_path` (a video file or a folder of frames) or :meth:`from_array`.

    Parameters
    ----------
    source
        Where the frames come from (a file, a folder, an array).
    fps
        The frame rate used for times: frame ``k`` starts at ``k / fps`` seconds.
    name
        Where it came from (a path), or ``None``.
    fps_known
        False when ``fps`` was assumed (``DEFAULT_FPS``) rather than read from the file or given.
    """

    source: FrameSource = field(repr=False)
    fps: float
    name: str | None = None
    fps_known: bool = True
    modality: ClassVar[str] = "video"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise InputError(f"fps must be a positive number, got {self.fps}")
        if self.source.n_frames == 0:
            raise EmptyInputError(f"video has zero frames: {self.name or 'array'}")
        if self.source.n_frames == 1:
            raise InputError(f"video has one frame, which shows no motion; load it as an image: {self.name or 'array'}")

    @property
    def n_frames(self) -> int:
        return self.source.n_frames

    @property
    def height(self) -> int:
        return self.source.height

    @property
    def width(self) -> int:
        return self.source.width

    @property
    def duration(self) -> float:
        """Seconds from the start of the first frame to the end of the last."""
        return self.n_frames / self.fps

    def time_of(self, frame: int) -> float:
        """The time in seconds at which ``frame`` starts."""
        return frame / self.fps

    def read(self, indices: Indices) -> np.ndarray:
        """The frames at ``indices`` (any order, repeats allowed) as ``(K, H, W, 3)`` RGB uint8.

        Each distinct frame is decoded once. Raises :class:`InputError` for indices outside ``[0, n_frames)`` and
        :class:`CorruptInputError` when a frame the container lists cannot be decoded.
        """
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size == 0:
            return np.zeros((0, self.height, self.width, 3), dtype=np.uint8)
        if idx.min() < 0 or idx.max() >= self.n_frames:
            raise InputError(f"frame indices must be in [0, {self.n_frames}), got {idx.min()}..{idx.max()}")
        unique, inverse = np.unique(idx, return_inverse=True)
        return self.source.read(unique)[inverse]

    def iter_chunks(self, indices: Indices, size: int = 16) -> Iterator[np.ndarray]:
        """The frames at ``indices``, in order, ``size`` at a time (bounds memory when frames are large)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        for start in range(0, len(idx), size):
            yield self.read(idx[start:start + size])

    @classmethod
    def from_path(cls, path: str | Path, fps: float | None = None) -> VideoSample:
        """Open a video file (``.mp4``, ``.avi``, ... through OpenCV) or a folder of frames (sorted by name,
        numbers compared as numbers: ``.tif``, ``.png``, ``.jpg``, ...). ``fps`` overrides the file's rate."""
        p = Path(path)
        if p.is_dir():
            folder = _FolderFrames.open(p)
            return cls(folder, fps=fps or DEFAULT_FPS, name=str(p), fps_known=fps is not None)
        if not p.is_file():
            raise InputError(f"no such video file or folder: {p}")
        if p.suffix.lower() not in VIDEO_SUFFIXES:
            raise UnsupportedInputError(f"not a video suffix {p.suffix!r} (known: {', '.join(VIDEO_SUFFIXES)}): {p}")
        video = _FileFrames.open(p)
        file_fps = video.fps if np.isfinite(video.fps) and video.fps > 0 else None
        return cls(video, fps=fps or file_fps or DEFAULT_FPS, name=str(p), fps_known=bool(fps or file_fps))

    @classmethod
    def from_array(cls, obj: Any, name: str | None = None, fps: float | None = None) -> VideoSample:
        """Wrap frames ``(T, H, W)`` or ``(T, H, W, 1|3|4)`` (uint8, uint16, bool or float; converted to RGB uint8
        with one scale for the whole video), a list of such frames, or a :class:`VideoSample` (returned as is)."""
        if isinstance(obj, VideoSample):
            return obj
        array = np.asarray(obj)
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise UnsupportedInputError(f"video array must be numeric, got dtype {array.dtype}")
        if array.ndim == 4 and array.shape[3] == 1:
            array = array[..., 0]
        if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] not in (3, 4)):
            raise UnsupportedInputError(f"video array must be (T, H, W) or (T, H, W, 1|3|4), got shape {array.shape}")
        if array.shape[0] == 0:
            raise EmptyInputError("video array has zero frames")
        if array.shape[1] == 0 or array.shape[2] == 0:
            raise EmptyInputError(f"video frames have no pixels: shape {array.shape}")
        return cls(_ArrayFrames(_rgb_uint8(array)), fps=fps or DEFAULT_FPS, name=name, fps_known=fps is not None)


def _rgb_uint8(array: np.ndarray) -> np.ndarray:
    u8 = to_uint8(array)
    if u8.ndim == 3:
        return np.repeat(u8[..., None], 3, axis=3)
    if u8.shape[3] == 4:
        alpha = u8[..., 3:4].astype(np.float32) / 255.0
        return (u8[..., :3].astype(np.float32) * alpha + 0.5).astype(np.uint8)
    return np.ascontiguousarray(u8)


class _ArrayFrames:
    """Frames held in memory as ``(T, H, W, 3)`` uint8."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.n_frames, self.height, self.width = (int(v) for v in frames.shape[:3])

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.frames[indices]


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class _FolderFrames:
    """One image file per frame, in natural name order; each read decodes only the requested files."""

    def __init__(self, paths: list[Path], height: int, width: int) -> None:
        self.paths = paths
        self.n_frames, self.height, self.width = len(paths), height, width

    @classmethod
    def open(cls, folder: Path) -> _FolderFrames:
        paths = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
                       key=_natural_key)
        if not paths:
            raise EmptyInputError(f"folder holds no frames ({', '.join(FRAME_SUFFIXES)}): {folder}")
        first = _read_image(paths[0])
        return cls(paths, int(first.shape[0]), int(first.shape[1]))

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.height, self.width, 3), dtype=np.uint8)
        for k, i in enumerate(indices):
            frame = _read_image(self.paths[i])
            if frame.shape[:2] != (self.height, self.width):
                raise CorruptInputError(f"frame {self.paths[i].name} is {frame.shape[1]}x{frame.shape[0]}, "
                                        f"the first frame is {self.width}x{self.height}")
            out[k] = frame
        return out


def _read_image(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if frame is None:
        raise CorruptInputError(f"cannot decode frame {path}")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class _FileFrames:
    """A video file read through OpenCV; the capture is opened on first use and dropped when pickled."""

    def __init__(self, path: Path, n_frames: int, height: int, width: int, fps: float) -> None:
        self.path = path
        self.n_frames, self.height, self.width, self.fps = n_frames, height, width, fps
        self._cap: Any = None
        self._next = 0  # index of the frame the capture decodes next

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cap"], state["_next"] = None, 0
        return state

    @classmethod
    def open(cls, path: Path) -> _FileFrames:
        import cv2

        if path.stat().st_size == 0:
            raise EmptyInputError(f"video file is empty (zero frames): {path}")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise _diagnose_unopenable(path)
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        claimed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, first = cap.read()
        if not ok:
            raise EmptyInputError(f"video has zero decodable frames: {path}")
        cap.release()
        video = cls(path, max(claimed, 0), int(first.shape[0]), int(first.shape[1]), fps)
        if claimed <= 0:  # the container does not say: count by stepping through once
            video.n_frames = video._count_by_grabbing()
        else:
            video.n_frames = video._decodable_prefix(claimed)
        return video

    def _capture(self) -> Any:
        import cv2

        if self._cap is None:
            self._cap = cv2.VideoCapture(str(self.path))
            self._next = 0
            if not self._cap.isOpened():
                raise CorruptInputError(f"cannot reopen video {self.path}")
        return self._cap

    def _count_by_grabbing(self) -> int:
        cap, count = self._capture(), 0
        cap.set(_pos_frames(), 0)
        while cap.grab():
            count += 1
        self._next = count
        return count

    def _decodes(self, index: int) -> bool:
        cap = self._capture()
        cap.set(_pos_frames(), index)
        ok = bool(cap.grab())
        self._next = index + 1 if ok else -1
        return ok

    def _decodable_prefix(self, claimed: int) -> int:
        """``claimed`` if its last frame decodes; otherwise raise for a truncated file (estimated counts that
        overshoot by at most :data:`MISSING_FRAMES_TOLERATED` frames are corrected instead)."""
        if self._decodes(claimed - 1):
            return claimed
        lo, hi = 0, claimed - 1  # frame lo decodes, frame hi does not
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self._decodes(mid) else (lo, mid)
        if claimed - (lo + 1) <= MISSING_FRAMES_TOLERATED:
            return lo + 1
        raise CorruptInputError(f"video is truncated: the container lists {claimed} frames but only the first "
                                f"{lo + 1} decode: {self.path}")

    def read(self, indices: np.ndarray) -> np.ndarray:
        import cv2

        cap = self._capture()
        out = np.empty((len(indices), self.height, self.width, 3), dtype=np.uint8)
        for k, i in enumerate(int(v) for v in indices):
            if not 0 <= i - self._next <= SEEK_AFTER:
                cap.set(_pos_frames(), i)
                self._next = i
            while self._next < i:
                if not cap.grab():
                    raise self._truncated(self._next)
                self._next += 1
            ok, frame = cap.read()
            if not ok or frame is None:
                raise self._truncated(i)
            self._next = i + 1
            if frame.shape[:2] != (self.height, self.width):
                raise CorruptInputError(f"frame {i} of {self.path} changes size to {frame.shape[1]}x{frame.shape[0]}")
            out[k] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        return out

    def _truncated(self, index: int) -> CorruptInputError:
        self._next = -1
        return CorruptInputError(f"cannot decode frame {index} of {self.n_frames} (truncated or corrupt): {self.path}")


def _pos_frames() -> int:
    import cv2

    return int(cv2.CAP_PROP_POS_FRAMES)


def _diagnose_unopenable(path: Path) -> Exception:
    """Why OpenCV could not open ``path``: not a video at all, a truncated MP4, or an MP4 without frames."""
    head = path.read_bytes()[:12]
    if head[4:8] == b"ftyp":
        return _diagnose_mp4(path)
    known = head[:4] == b"RIFF" or head[:4] == b"\x1a\x45\xdf\xa3"
    if known:
        return CorruptInputError(f"video container has no decodable video stream (truncated or corrupt): {path}")
    return CorruptInputError(f"not a video file (no known container signature): {path}")


def _diagnose_mp4(path: Path) -> Exception:
    """Walk the top-level MP4 boxes: a box running past the end means truncation; an empty ``mdat`` no frames."""
    data = path.read_bytes()
    pos = 0
    boxes: dict[bytes, int] = {}
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1 and pos + 16 <= len(data):
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        if size < 8 or pos + size > len(data):
            return CorruptInputError(f"MP4 is truncated: box {kind!r} at byte {pos} runs past the end "
                                     f"({len(data)} bytes): {path}")
        boxes[kind] = boxes.get(kind, 0) + size
        pos += size
    if b"moov" not in boxes:
        return CorruptInputError(f"MP4 has no 'moov' index (truncated while being written?): {path}")
    if boxes.get(b"mdat", 0) <= 16:
        return EmptyInputError(f"MP4 holds zero frames: {path}")
    return CorruptInputError(f"MP4 has no video stream OpenCV can decode: {path}")
