"""Speed of the video renderer: a 10-minute 640x480 video (generated here) becomes keyframe grids in <= 5 s.

    python benchmarks/bench_video.py [--minutes 10] [--fps 25] [--selection change|uniform] [--repeat 3]
    python benchmarks/bench_video.py --expert 20             # the video expert on 20 s of the walkway
    python benchmarks/bench_video.py --figures docs/img      # the figures of docs/video.md (no timing)

The generated "walkway" (MPEG-4 Part 2 in .mp4, OpenCV's default GOP) has dark walkers crossing a textured ground
at about 1.5 px/frame (at 25 fps), a bright "cyclist" crossing the frame in 4 s (about 4 times faster) once every
30 s, a new ground tint every 40 s, and each frame's index printed in its top-left corner (so a grid cell's label
can be checked against the frame it shows). Generating the video is not timed; opening the file and rendering all
grids is. ``--expert SECONDS`` times ``VideoExpert().score`` instead on that many seconds of the same video (decoding,
scaling to 240 px, optical flow, cells and scores) and reports the time per frame.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from genad.metrics import auroc_of_groups
from genad.modalities.video import VideoExpert, VideoRenderer, VideoSample

TARGET_SECONDS = 5.0
SIZE = (640, 480)
CYCLE_S, CYCLIST_FROM_S, CYCLIST_TO_S = 30.0, 10.0, 14.0


def cyclist_on(t: int, fps: float) -> bool:
    return CYCLIST_FROM_S <= (t / fps) % CYCLE_S < CYCLIST_TO_S


def write_walkway(path: Path, seconds: float, fps: float, cyclist: bool = True, seed: int = 0,
                  counter: bool = True) -> int:
    """Write the synthetic walkway video (walkers placed by ``seed``); returns its frame count."""
    width, height = SIZE
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, SIZE)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video here")
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((height, width)).astype(np.float32), (0, 0), 6.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    start = rng.uniform((40, 120), (width - 40, height - 60), size=(14, 2))
    heading = rng.uniform(0, 2 * np.pi, 14)
    speed = rng.uniform(0.8, 1.2, 14) * (37.5 / fps)  # about 1.5 px/frame at 25 fps
    velocity = np.stack([np.cos(heading), np.sin(heading)], axis=1) * speed[:, None]
    corner, span = np.array([40.0, 120.0]), np.array([width - 80.0, height - 180.0])
    n_frames = round(seconds * fps)
    scene_frames = round(40 * fps)
    ground = np.zeros((height, width, 3), np.uint8)
    for t in range(n_frames):
        if t % scene_frames == 0:
            tint = rng.uniform(90, 200, 3)
            ground = (tint * (0.75 + 0.5 * texture[..., None])).clip(0, 255).astype(np.uint8)
        frame = ground.copy()
        pos = np.abs((start - corner + velocity * t) % (2 * span) - span) + corner  # bounce inside a box
        for x, y in pos.astype(int):
            cv2.ellipse(frame, (x, y), (11, 26), 0, 0, 360, (40, 35, 30), -1)
        if cyclist and cyclist_on(t, fps):
            phase = ((t / fps) % CYCLE_S - CYCLIST_FROM_S) * fps
            x = int(20 + phase * (width - 80) / ((CYCLIST_TO_S - CYCLIST_FROM_S) * fps))
            cv2.rectangle(frame, (x, height - 160), (x + 44, height - 124), (230, 240, 250), -1)
        if counter:
            cv2.rectangle(frame, (0, 0), (130, 52), (0, 0, 0), -1)
            cv2.putText(frame, str(t), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
        writer.write(frame)
    writer.release()
    return n_frames


def time_rendering(path: Path, selection: str, repeat: int) -> None:
    renderer = VideoRenderer(selection=selection)  # type: ignore[arg-type]
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        rendering = renderer.render(VideoSample.from_path(path))
        timings.append(time.perf_counter() - start)
    best, worst = min(timings), max(timings)
    print(f"{len(rendering.images)} grids, {len(rendering.keyframes)} keyframes ({selection}); "
          f"open + render: best {best:.2f} s, worst {worst:.2f} s (target <= {TARGET_SECONDS} s)")
    print("PASS" if worst <= TARGET_SECONDS else "FAIL")


def time_expert(path: Path, repeat: int) -> None:
    video = VideoSample.from_path(path)
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        VideoExpert().score(video)
        timings.append(time.perf_counter() - start)
    print(f"expert on {video.n_frames} frames of {video.width}x{video.height}: best {min(timings):.2f} s, "
          f"{1000 * min(timings) / video.n_frames:.1f} ms per frame (worst {1000 * max(timings) / video.n_frames:.1f})")


def write_figures(folder: Path, tmp: Path) -> None:
    """``video_grid.png`` (the grid a VLM sees for a 30 s clip) and ``video_expert.png`` (the expert on the same
    clip without the printed frame counter, which changes every frame and would look like fast motion, scored
    zero-shot and against a normal 20 s clip of the walkway without the cyclist)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fps = 10.0
    write_walkway(tmp / "walkway.mp4", 30.0, fps)
    rendering = VideoRenderer().render(VideoSample.from_path(tmp / "walkway.mp4"))
    folder.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    palette = Image.fromarray(rendering.images[0]).quantize(64)  # a 64-colour copy keeps the repository small
    palette.save(folder / "video_grid.png", optimize=True)
    write_walkway(tmp / "plain.mp4", 30.0, fps, counter=False)
    write_walkway(tmp / "normal.mp4", 20.0, fps, cyclist=False, seed=1, counter=False)
    video = VideoSample.from_path(tmp / "plain.mp4")
    result = VideoExpert().score(video, references=[VideoSample.from_path(tmp / "normal.mp4")])
    zero_shot = VideoExpert().score(video)
    assert result.anomaly_map is not None
    assert zero_shot.anomaly_map is not None
    truth = np.array([cyclist_on(t, fps) for t in range(video.n_frames)])
    frame = int(np.argmax(result.anomaly_map))
    heat = VideoExpert.frame_heatmap(result, frame)
    fig, (ax_t, ax_f) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1.6, 1]})
    seconds = np.arange(video.n_frames) / fps
    ax_t.fill_between(seconds, 0, truth, step="post", color="0.85", label="cyclist on screen")
    ax_t.plot(seconds, result.anomaly_map, color="C3", label="score against a normal clip")
    ax_t.plot(seconds, zero_shot.anomaly_map, color="C2", lw=0.9, label="zero-shot score")
    for region in result.regions:
        assert region.span is not None
        ax_t.axvspan(*region.span, ymin=0.95, ymax=1.0, color="C0")
    ax_t.axhline(0.5, color="0.4", lw=0.8, ls="--")
    ax_t.set(xlabel="seconds", ylabel="score", ylim=(0, 1.05), title="per-frame score; blue bars: reported intervals")
    ax_t.legend(loc="center right", fontsize=8)
    ax_f.imshow(video.read([frame])[0])
    ax_f.imshow(heat, cmap="inferno", alpha=0.45, vmin=0, vmax=1)
    x0, y0, x1, y1 = result.meta["top_boxes"][frame]
    ax_f.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="cyan", lw=2))
    ax_f.set_title(f"frame {frame}: cell heatmap, top cell in cyan", fontsize=10)
    ax_f.axis("off")
    fig.tight_layout()
    fig.savefig(folder / "video_expert.png", dpi=90)
    print(f"wrote {folder / 'video_grid.png'} and {folder / 'video_expert.png'}")
    for name, scored in (("against the normal clip", result), ("zero-shot", zero_shot)):
        assert scored.anomaly_map is not None
        auroc = auroc_of_groups(scored.anomaly_map[~truth], scored.anomaly_map[truth])
        print(f"{name}: frame AUROC {auroc:.3f}, {scored.regions}, {scored.notes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--selection", choices=("change", "uniform"), default="change")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--expert", type=float, default=None, metavar="SECONDS",
                        help="time the video expert on this many seconds of video instead of the renderer")
    parser.add_argument("--figures", type=Path, default=None, help="write the docs figures here instead of timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.figures is not None:
            write_figures(args.figures, Path(tmp))
            return
        path = Path(tmp) / "walkway.mp4"
        if args.expert is not None:
            write_walkway(path, args.expert, args.fps)
            time_expert(path, args.repeat)
            return
        start = time.perf_counter()
        n_frames = write_walkway(path, args.minutes * 60, args.fps)
        print(f"generated {n_frames} frames of 640x480 in {time.perf_counter() - start:.1f} s (not timed)")
        time_rendering(path, args.selection, args.repeat)


if __name__ == "__main__":
    main()
