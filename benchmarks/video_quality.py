"""Quality of the video expert on UCSD Ped2 (no labels used for scoring), until ``genad eval`` covers video.

    python benchmarks/video_quality.py [--data ../shared/data/ucsd_ped2] [--mode clip|batch] [--json out.json]

Reports, pooled over all frames of all clips: frame AUROC; the same with every clip played backwards; the share of
anomalous frames whose top-scoring cell overlaps the ground-truth mask; and per clip the temporal IoU between the
expert's anomalous intervals and the labelled ones. ``--mode clip`` scores each clip on its own (the motion scale
comes from the clip itself); ``--mode batch`` uses ``score_many`` (the scale comes from all clips together).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from genad import ExpertResult
from genad.eval._datasets import read_dataset
from genad.modalities.video import VideoExpert, VideoSample

UCSD_FPS = 10.0
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2"


def interval_frames(intervals: list[tuple[int, int]] | tuple[tuple[int, int], ...], n_frames: int) -> np.ndarray:
    marked = np.zeros(n_frames, dtype=bool)
    for a, b in intervals:
        marked[a:b + 1] = True
    return marked


def frame_mask(path: str) -> np.ndarray:
    import cv2

    mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"cannot read mask {path}")
    return mask > 127


def temporal_iou(predicted: np.ndarray, labelled: np.ndarray) -> float:
    union = np.count_nonzero(predicted | labelled)
    return float(np.count_nonzero(predicted & labelled) / union) if union else 1.0


def score_all(expert: VideoExpert, videos: list[VideoSample], mode: str) -> list[ExpertResult]:
    if mode == "batch":
        return expert.score_many(videos)
    return [expert.score(v) for v in videos]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--mode", choices=("clip", "batch"), default="clip")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    items = [it for it in read_dataset(args.data, fmt="ucsd").items if it.frame_labels is not None]
    videos = [VideoSample.from_path(it.sample, fps=UCSD_FPS) for it in items]
    backwards = [VideoSample.from_array(v.read(range(v.n_frames))[::-1], name=f"{v.name} reversed", fps=UCSD_FPS)
                 for v in videos]
    expert = VideoExpert()
    start = time.perf_counter()
    forward_results = score_all(expert, videos, args.mode)
    seconds = time.perf_counter() - start
    backward_results = score_all(expert, backwards, args.mode)

    labels = np.concatenate([it.frame_labels for it in items])
    forward = np.concatenate([r.anomaly_map for r in forward_results])
    backward = np.concatenate([r.anomaly_map[::-1] for r in backward_results])
    hits, clips = [], {}
    for item, result in zip(items, forward_results, strict=True):
        frame_labels = np.asarray(item.frame_labels, dtype=bool)
        masks = item.mask if isinstance(item.mask, tuple) else ()
        clip_hits = []
        for t in np.flatnonzero(frame_labels):
            x0, y0, x1, y1 = result.meta["top_boxes"][t]
            clip_hits.append(bool(frame_mask(masks[t])[y0:y1, x0:x1].any()))
        hits += clip_hits
        predicted = interval_frames([r.interval for r in result.regions if r.interval is not None], len(frame_labels))
        clips[item.name] = {
            "frame_auroc": float(roc_auc_score(frame_labels, result.anomaly_map)),
            "top_cell_on_mask": float(np.mean(clip_hits)),
            "temporal_iou": temporal_iou(predicted, interval_frames(item.windows, len(frame_labels))),
            "intervals": [list(r.interval) for r in result.regions if r.interval is not None],
            "labelled": [list(w) for w in item.windows],
            "score": result.score,
        }
    figures = {
        "mode": args.mode,
        "pooled_frame_auroc": float(roc_auc_score(labels, forward)),
        "pooled_frame_auroc_backwards": float(roc_auc_score(labels, backward)),
        "top_cell_on_mask": float(np.mean(hits)),
        "mean_temporal_iou": float(np.mean([c["temporal_iou"] for c in clips.values()])),
        "frames": int(labels.size),
        "seconds_forward": round(seconds, 2),
        "clips": clips,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
