"""VideoSample: readers for files, folders and arrays; exact seeks; typed errors for bad inputs."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from genad.errors import CorruptInputError, EmptyInputError, InputError, UnsupportedInputError
from genad.modalities.video import VideoSample
from genad.modalities.video._sample import DEFAULT_FPS

WIDTH, HEIGHT, BITS = 160, 120, 8


def coded_frame(index: int) -> np.ndarray:
    """A BGR frame whose vertical stripes spell ``index`` in binary (survives lossy coding)."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for bit in range(BITS):
        if (index >> bit) & 1:
            frame[:, bit * 20:(bit + 1) * 20] = 255
    return frame


def decode_index(rgb: np.ndarray) -> int:
    return sum(1 << bit for bit in range(BITS) if rgb[HEIGHT // 2, bit * 20 + 10].mean() > 127)


def write_video(path: Path, n_frames: int, fourcc: str = "mp4v", fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for i in range(n_frames):
        writer.write(coded_frame(i))
    writer.release()
    return path


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "coded.mp4", 200)


@pytest.mark.parametrize(("suffix", "fourcc"), [(".mp4", "mp4v"), (".avi", "MJPG")])
def test_file_reads_the_requested_frames_in_any_order(tmp_path: Path, suffix: str, fourcc: str) -> None:
    video = VideoSample.from_path(write_video(tmp_path / f"v{suffix}", 120, fourcc, fps=12.5))
    assert (video.n_frames, video.height, video.width, video.fps) == (120, HEIGHT, WIDTH, 12.5)
    wanted = [5, 3, 119, 0, 60, 61, 61, 30]
    frames = video.read(wanted)
    assert frames.shape == (len(wanted), HEIGHT, WIDTH, 3)
    assert frames.dtype == np.uint8
    assert [decode_index(f) for f in frames] == wanted


def test_sparse_read_decodes_only_near_the_requested_frames(mp4: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = pickle.loads(pickle.dumps(VideoSample.from_path(mp4)))  # a copy with no open capture
    calls = {"grab": 0, "read": 0, "seek": 0}
    real = cv2.VideoCapture

    class Counting:
        def __init__(self, *args: object) -> None:
            self._cap = real(*args)

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return bool(self._cap.isOpened())

        def set(self, prop: int, value: float) -> bool:
            calls["seek"] += 1
            return bool(self._cap.set(prop, value))

        def grab(self) -> bool:
            calls["grab"] += 1
            return bool(self._cap.grab())

        def read(self) -> tuple[bool, np.ndarray]:
            calls["read"] += 1
            return self._cap.read()

    monkeypatch.setattr(cv2, "VideoCapture", Counting)
    frames = video.read([30, 100, 190, 102])
    assert [decode_index(f) for f in frames] == [30, 100, 190, 102]
    assert calls["read"] == 4
    assert calls["grab"] == 1  # 100 -> 102 steps over frame 101; the far frames are reached by seeking
    assert calls["seek"] == 3


def test_pickled_sample_reopens_the_file(mp4: Path) -> None:
    video = VideoSample.from_path(mp4)
    video.read([7])
    copy = pickle.loads(pickle.dumps(video))
    assert decode_index(copy.read([150])[0]) == 150


def test_fps_override_and_time(mp4: Path) -> None:
    video = VideoSample.from_path(mp4, fps=10.0)
    assert video.fps == 10.0
    assert video.time_of(25) == 2.5
    assert video.duration == 20.0


def test_folder_of_frames_in_natural_order(tmp_path: Path) -> None:
    for i in (0, 1, 2, 10, 11):
        cv2.imwrite(str(tmp_path / f"{i}.png"), coded_frame(i))
    (tmp_path / "notes.txt").write_text("not a frame")
    video = VideoSample.from_path(tmp_path)
    assert video.n_frames == 5
    assert not video.fps_known
    assert video.fps == DEFAULT_FPS
    assert [decode_index(f) for f in video.read([3, 4, 0])] == [10, 11, 0]


def test_folder_with_a_frame_of_another_size(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "000.png"), coded_frame(0))
    cv2.imwrite(str(tmp_path / "001.png"), coded_frame(1)[:50])
    video = VideoSample.from_path(tmp_path)
    with pytest.raises(CorruptInputError, match=r"001\.png"):
        video.read([1])


@pytest.mark.parametrize("shape", [(6, 20, 30), (6, 20, 30, 1), (6, 20, 30, 3), (6, 20, 30, 4)])
def test_arrays_of_any_channel_layout_become_rgb(shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    video = VideoSample.from_array(array, name="clip", fps=5.0)
    frames = video.read(range(6))
    assert frames.shape == (6, 20, 30, 3)
    if len(shape) == 3 or shape[3] == 1:
        np.testing.assert_array_equal(frames[..., 1], array.reshape(6, 20, 30, -1)[..., 0])
    if len(shape) == 4 and shape[3] == 3:
        np.testing.assert_array_equal(frames, array)


def test_float_array_is_scaled_once_for_the_whole_video() -> None:
    array = np.stack([np.full((4, 4), 0.25), np.full((4, 4), 0.5)])
    frames = VideoSample.from_array(array).read([0, 1])
    assert frames[0, 0, 0, 0] == 64
    assert frames[1, 0, 0, 0] == 128


def test_iter_chunks_keeps_order_and_size(mp4: Path) -> None:
    video = VideoSample.from_path(mp4)
    chunks = list(video.iter_chunks([9, 3, 150, 4, 5], size=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [decode_index(f) for c in chunks for f in c] == [9, 3, 150, 4, 5]


def test_read_outside_the_video() -> None:
    video = VideoSample.from_array(np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(InputError, match="frame indices"):
        video.read([3])
    assert video.read([]).shape == (0, 4, 4, 3)


# ------------------------------------------------------------------ bad inputs


def test_truncated_avi(tmp_path: Path) -> None:
    data = write_video(tmp_path / "full.avi", 100, "MJPG").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptInputError, match="truncated"):
        VideoSample.from_path(tmp_path / "cut.avi")


def test_truncated_mp4(mp4: Path, tmp_path: Path) -> None:
    data = mp4.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptInputError, match="truncated"):
        VideoSample.from_path(tmp_path / "cut.mp4")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    with pytest.raises(CorruptInputError, match="not a video"):
        VideoSample.from_path(path)


@pytest.mark.parametrize(("name", "fourcc"), [("zero.mp4", "mp4v"), ("zero.avi", "MJPG")])
def test_video_file_with_zero_frames(tmp_path: Path, name: str, fourcc: str) -> None:
    with pytest.raises(EmptyInputError, match="zero"):
        VideoSample.from_path(write_video(tmp_path / name, 0, fourcc))


def test_empty_file_and_empty_sources(tmp_path: Path) -> None:
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyInputError):
        VideoSample.from_path(tmp_path / "empty.mp4")
    (tmp_path / "frames").mkdir()
    with pytest.raises(EmptyInputError):
        VideoSample.from_path(tmp_path / "frames")
    with pytest.raises(EmptyInputError):
        VideoSample.from_array(np.zeros((0, 8, 8), np.uint8))


def test_one_frame_video_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="one frame"):
        VideoSample.from_path(write_video(tmp_path / "one.mp4", 1))
    with pytest.raises(InputError, match="one frame"):
        VideoSample.from_array(np.zeros((1, 8, 8, 3), np.uint8))


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such"):
        VideoSample.from_path(tmp_path / "absent.mp4")
    (tmp_path / "clip.gif").write_bytes(b"GIF89a")
    with pytest.raises(UnsupportedInputError):
        VideoSample.from_path(tmp_path / "clip.gif")


@pytest.mark.parametrize("bad", [np.zeros((5, 5)), np.zeros((3, 4, 4, 2)), np.array([["a"]] * 3, dtype=object)])
def test_arrays_that_are_not_videos(bad: np.ndarray) -> None:
    with pytest.raises(UnsupportedInputError):
        VideoSample.from_array(bad)


def test_bad_fps() -> None:
    with pytest.raises(InputError, match="fps"):
        VideoSample.from_array(np.zeros((3, 4, 4), np.uint8), fps=-1.0)
