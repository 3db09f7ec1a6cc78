"""Speed of the video renderer: a 10-minute 640x480 video (generated here) becomes keyframe grids in <= 5 s.

    python benchmarks/bench_video.py [--minutes 10] [--fps 25] [--selection change|uniform] [--repeat 3]

The video (MPEG-4 Part 2 in .mp4, OpenCV's default GOP) shows moving shapes over a background that changes scene
every 40 s. Generating it is not timed; opening the file and rendering all grids is.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from genad.render.video import VideoRenderer
from genad.samples.video import VideoSample

TARGET_SECONDS = 5.0


def write_video(path: Path, minutes: float, fps: float, size: tuple[int, int] = (640, 480)) -> int:
    """Write a synthetic video; returns its frame count."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video here")
    rng = np.random.default_rng(0)
    n_frames = round(minutes * 60 * fps)
    scene_frames = round(40 * fps)
    gradient = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    background = np.zeros((height, width, 3), np.uint8)
    for t in range(n_frames):
        if t % scene_frames == 0:
            a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
            background = (a * (1 - gradient) + b * gradient).astype(np.uint8).repeat(height, axis=0)
        frame = background.copy()
        for k in range(4):
            x = int((t * (3 + 2 * k) + 150 * k) % (width - 60))
            y = int(height / 2 + (height / 3) * np.sin(t / (20.0 + 7 * k) + k))
            cv2.rectangle(frame, (x, y - 20), (x + 60, y + 20), (40 * k, 255 - 50 * k, 128), -1)
        cv2.putText(frame, str(t), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return n_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--selection", choices=("change", "uniform"), default="change")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        start = time.perf_counter()
        n_frames = write_video(path, args.minutes, args.fps)
        print(f"generated {n_frames} frames of 640x480 in {time.perf_counter() - start:.1f} s (not timed)")
        renderer = VideoRenderer(selection=args.selection)
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            rendering = renderer.render(VideoSample.from_path(path))
            timings.append(time.perf_counter() - start)
        best, worst = min(timings), max(timings)
        print(f"{len(rendering.images)} grids, {len(rendering.keyframes)} keyframes ({args.selection}); "
              f"open + render: best {best:.2f} s, worst {worst:.2f} s (target <= {TARGET_SECONDS} s)")
        print("PASS" if worst <= TARGET_SECONDS else "FAIL")


if __name__ == "__main__":
    main()
