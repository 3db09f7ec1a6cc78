"""Quality of the video expert on UCSD Ped2, every default chosen without the clip it is reported on.

    python benchmarks/video_quality.py [--data ../shared/data/ucsd_ped2] [--resamples 1000] [--json out.json]

Candidate configs (``GRID``, six): cell size 16, 24 or 32 px, with or without the perspective trend of the typical
speed; everything else is the expert's default, fixed before any clip was scored. Four modes:

- ``clip``: each clip scored alone, ``score(clip)``: the motion scale comes from the clip itself;
- ``references``: ``score(clip, references)``, where the references are the frames labelled normal in the *other*
  clips: every run of consecutive normal frames of another clip is one reference video (the labels of
  the scored clip are never used);
- ``batch``: ``score_many`` over all clips at once, no references (the scale comes from the whole batch);
- ``segments``: every run of one label (all normal or all anomalous frames) of every clip scored alone, as
  ``score(run)``: a stress test of the no-references mode, where half of the videos are 100 % anomalous.

Each config's per-clip frame AUROC (clips with both classes) goes to ``benchmarks/_oos.py``: ``leave_one_out``
gives every clip the config with the best mean AUROC over the *other* clips, ``in_sample`` the config with the best
mean over all clips. The out-of-sample pooled figures pool, over all clips, the frame scores of the config chosen
for each clip. Reported per mode: pooled frame AUROC, the same with every clip played backwards (same configs),
per-clip frame AUROC, the share of anomalous frames whose top cell overlaps the ground-truth mask, the share of
normal frames scored below 0.5 and of anomalous frames at or above it, and the temporal IoU between reported and
labelled intervals. The 95 % intervals are percentile bootstraps over one-second blocks (up to 10 consecutive
frames of one label within one clip; normal and anomalous blocks are resampled separately), since neighbouring
frames are strongly correlated. A plain baseline (largest 24 px cell flow magnitude of the frame, 9-frame mean, no
learning) is scored beside the expert.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _confidence import build_table
from _oos import in_sample, leave_one_out

from genad import ExpertResult
from genad._confidence import params_of
from genad.eval._datasets import read_dataset
from genad.metrics import auroc_of_groups, bootstrap_ci
from genad.modalities.video import VideoExpert, VideoSample

UCSD_FPS = 10.0
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2"
GRID = {f"cell={cell},perspective={'on' if p else 'off'}": VideoExpert(cell=cell, perspective=p)
        for cell in (16, 24, 32) for p in (True, False)}
MODES = ("clip", "references", "batch", "segments")
BLOCK = 10  # frames in a bootstrap block: one second of Ped2


def interval_frames(intervals: Sequence[tuple[int, int]], n_frames: int) -> np.ndarray:
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


def runs_of(labels: np.ndarray, value: bool) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` runs of frames whose label is ``value``."""
    marked = np.concatenate([[False], labels == value, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(marked))
    return [(int(a), int(b) - 1) for a, b in zip(change[::2], change[1::2], strict=True)]


def label_blocks(labels: np.ndarray, offset: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frame indices (shifted by ``offset``) of the normal and of the anomalous blocks: runs of one label cut into
    pieces of at most ``BLOCK`` frames."""
    normal, anomalous = ([np.arange(start, min(start + BLOCK, last + 1)) + offset
                          for first, last in runs_of(labels, value) for start in range(first, last + 1, BLOCK)]
                         for value in (False, True))
    return normal, anomalous


def auroc_ci(scores: np.ndarray, normal: list[np.ndarray], anomalous: list[np.ndarray],
             resamples: int) -> tuple[float, float]:
    """Block-bootstrap interval of the frame AUROC; ``(nan, nan)`` with fewer than two blocks of a class."""
    if min(len(normal), len(anomalous)) < 2:
        return float("nan"), float("nan")

    def statistic(n: list[np.ndarray], a: list[np.ndarray]) -> float:
        return auroc_of_groups(scores[np.concatenate(n)], scores[np.concatenate(a)])

    return bootstrap_ci(statistic, normal, anomalous, n_resamples=resamples)


def share_ci(values: np.ndarray, blocks: list[np.ndarray], resamples: int) -> tuple[float, float]:
    return bootstrap_ci(lambda b: float(np.mean(values[np.concatenate(b)])), blocks, n_resamples=resamples)


@dataclass(frozen=True)
class Scored:
    """One clip's frame scores, top cells and reported intervals, in the order its frames were scored."""

    scores: np.ndarray
    boxes: np.ndarray
    intervals: list[tuple[int, int]]

    @classmethod
    def of(cls, result: ExpertResult, offset: int = 0) -> Scored:
        assert result.anomaly_map is not None
        intervals = [(r.interval[0] + offset, r.interval[1] + offset) for r in result.regions if r.interval is not None]
        return cls(result.anomaly_map, result.meta["top_boxes"], intervals)

    @classmethod
    def joined(cls, parts: list[Scored]) -> Scored:
        return cls(np.concatenate([p.scores for p in parts]), np.concatenate([p.boxes for p in parts]),
                   sorted(i for p in parts for i in p.intervals))


class Clips:
    """The labelled clips forwards and backwards, their runs of one label as videos of their own, the masks, and
    cell speeds cached per cell size."""

    def __init__(self, data: Path) -> None:
        items = [it for it in read_dataset(data, fmt="ucsd").items if it.frame_labels is not None]
        self.names = [it.name for it in items]
        self.labels = {it.name: np.asarray(it.frame_labels, dtype=bool) for it in items}
        forward = {it.name: VideoSample.from_path(it.sample, fps=UCSD_FPS) for it in items}
        self.videos = {"forward": forward, "backward": {
            n: VideoSample.from_array(v.read(range(v.n_frames))[::-1], name=f"{n} reversed", fps=UCSD_FPS)
            for n, v in forward.items()}}
        self.runs: dict[str, dict[str, list[tuple[int, int, bool]]]] = {}
        for direction, order in (("forward", 1), ("backward", -1)):
            self.runs[direction] = {n: sorted((a, b, value) for value in (False, True)
                                              for a, b in runs_of(self.labels[n][::order], value))
                                    for n in self.names}
        if any(a == b for by_clip in self.runs.values() for runs in by_clip.values() for a, b, _ in runs):
            raise ValueError("a run of one label is a single frame, which shows no motion on its own")
        self.run_videos = {d: {n: [VideoSample.from_array(self.videos[d][n].read(range(a, b + 1)),
                                                          name=f"{n} {d} {a}-{b}", fps=UCSD_FPS)
                                   for a, b, _ in self.runs[d][n]] for n in self.names} for d in self.runs}
        self.masks = {it.name: {int(t): frame_mask(it.mask[t]) for t in np.flatnonzero(self.labels[it.name])}
                      for it in items if isinstance(it.mask, tuple)}
        self._speeds: dict[tuple[int, str, str], dict[str, list[np.ndarray]]] = {}
        self.seconds_per_frame: dict[int, float] = {}

    def speeds(self, expert: VideoExpert, direction: str, what: str = "clips") -> dict[str, list[np.ndarray]]:
        """Cell speeds per clip name: ``[whole clip]`` (``what="clips"``) or one per run of one label."""
        key = (expert.cell, direction, what)
        if key not in self._speeds:
            start = time.perf_counter()
            if what == "clips":
                self._speeds[key] = {n: [expert.cell_speeds(v)] for n, v in self.videos[direction].items()}
            else:
                self._speeds[key] = {n: [expert.cell_speeds(v) for v in videos]
                                     for n, videos in self.run_videos[direction].items()}
            if key[1:] == ("forward", "clips"):
                frames = sum(v.n_frames for v in self.videos[direction].values())
                self.seconds_per_frame[expert.cell] = (time.perf_counter() - start) / frames
        return self._speeds[key]

    def score(self, expert: VideoExpert, mode: str, direction: str) -> dict[str, Scored]:
        """Every clip scored in one mode, as ``score`` / ``score_many`` would, from cached speeds."""
        if mode == "segments":
            return {n: self._segments(expert, n, direction) for n in self.names}
        speeds = {n: s[0] for n, s in self.speeds(expert, direction).items()}
        out = {}
        for name in self.names:
            if mode == "clip":
                stats, basis = expert.fit_stats([speeds[name]]), "the clip itself"
            elif mode == "references":
                refs = self.reference_speeds(expert, name)
                stats, basis = expert.fit_stats(refs, normal=True), f"normal references ({len(refs)} clips)"
            else:
                stats, basis = expert.fit_stats(list(speeds.values())), f"the batch of {len(speeds)} clips"
            out[name] = Scored.of(expert.judge(self.videos[direction][name], speeds[name], stats, basis))
        return out

    def reference_speeds(self, expert: VideoExpert, left_out: str) -> list[np.ndarray]:
        """The normal runs of every clip but ``left_out`` (forwards)."""
        runs = self.speeds(expert, "forward", "runs")
        return [s for n in self.names if n != left_out
                for s, (_, _, anomalous) in zip(runs[n], self.runs["forward"][n], strict=True) if not anomalous]

    def _segments(self, expert: VideoExpert, name: str, direction: str) -> Scored:
        """Every run of one label of the clip scored alone, as ``score(run)``."""
        runs = zip(self.run_videos[direction][name], self.speeds(expert, direction, "runs")[name],
                   self.runs[direction][name], strict=True)
        return Scored.joined([Scored.of(expert.judge(video, speeds, expert.fit_stats([speeds]), "the run itself"), a)
                              for video, speeds, (a, _, _) in runs])

    def hits(self, name: str, boxes: np.ndarray) -> np.ndarray:
        """Per anomalous frame of the clip: does the top cell overlap the mask?"""
        return np.array([bool(self.masks[name][int(t)][y0:y1, x0:x1].any())
                         for t in np.flatnonzero(self.labels[name]) for x0, y0, x1, y1 in [boxes[t]]])


def frame_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.all() or not labels.any():
        return float("nan")
    return auroc_of_groups(scores[~labels], scores[labels])


def summarise(clips: Clips, forward: dict[str, np.ndarray], backward: dict[str, np.ndarray],
              boxes: dict[str, np.ndarray] | None, regions: dict[str, list[tuple[int, int]]] | None,
              resamples: int) -> dict[str, Any]:
    """Pooled and per-clip figures with block-bootstrap intervals for per-clip frame scores."""
    names = clips.names
    labels = np.concatenate([clips.labels[n] for n in names])
    offsets = np.cumsum([0] + [len(clips.labels[n]) for n in names])
    normal, anomalous = [], []
    for n, offset in zip(names, offsets, strict=False):
        nb, ab = label_blocks(clips.labels[n], offset)
        normal += nb
        anomalous += ab
    fwd = np.concatenate([forward[n] for n in names])
    bwd = np.concatenate([backward[n] for n in names])
    out: dict[str, Any] = {
        "pooled_frame_auroc": frame_auroc(labels, fwd),
        "pooled_frame_auroc_ci": auroc_ci(fwd, normal, anomalous, resamples),
        "pooled_frame_auroc_backwards": frame_auroc(labels, bwd),
        "pooled_frame_auroc_backwards_ci": auroc_ci(bwd, normal, anomalous, resamples),
    }
    per_clip: dict[str, dict[str, Any]] = {}
    for n in names:
        lab = clips.labels[n]
        nb, ab = label_blocks(lab)
        entry: dict[str, Any] = {"frame_auroc": frame_auroc(lab, forward[n]),
                                 "frame_auroc_backwards": frame_auroc(lab, backward[n])}
        if np.isfinite(entry["frame_auroc"]):
            entry["frame_auroc_ci"] = auroc_ci(forward[n], nb, ab, resamples)
        per_clip[n] = entry
    if boxes is not None:
        hits = np.zeros(labels.size, dtype=bool)
        for n, offset in zip(names, offsets, strict=False):
            clip_hits = clips.hits(n, boxes[n])
            hits[offset + np.flatnonzero(clips.labels[n])] = clip_hits
            per_clip[n]["top_cell_on_mask"] = float(np.mean(clip_hits))
            lab = clips.labels[n]
            per_clip[n]["normal_frames_below_half"] = float(np.mean(forward[n][~lab] < 0.5)) if (~lab).any() else None
            per_clip[n]["anomalous_frames_at_or_above_half"] = float(np.mean(forward[n][lab] >= 0.5))
        out["top_cell_on_mask"] = float(np.mean(hits[labels]))
        out["top_cell_on_mask_ci"] = share_ci(hits, anomalous, resamples)
        out["normal_frames_below_half"] = float(np.mean(fwd[~labels] < 0.5))
        out["anomalous_frames_at_or_above_half"] = float(np.mean(fwd[labels] >= 0.5))
    if regions is not None:
        for n in names:
            lab = clips.labels[n]
            predicted = interval_frames(regions[n], lab.size)
            labelled = interval_frames(runs_of(lab, True), lab.size)
            per_clip[n]["temporal_iou"] = temporal_iou(predicted, labelled)
            per_clip[n]["intervals"] = [list(r) for r in regions[n]]
        out["mean_temporal_iou"] = float(np.mean([per_clip[n]["temporal_iou"] for n in names]))
    out["clips"] = per_clip
    return out


def evaluate_mode(clips: Clips, mode: str, resamples: int) -> dict[str, Any]:
    """Score every config of ``GRID`` in ``mode``, choose out of sample and in sample, and summarise both."""
    results = {(c, d): clips.score(e, mode, d) for c, e in GRID.items() for d in ("forward", "backward")}
    table = {c: {n: frame_auroc(clips.labels[n], results[c, "forward"][n].scores) for n in clips.names}
             for c in GRID}
    out: dict[str, Any] = {"grid": table}
    for protocol, choose in (("out_of_sample", leave_one_out), ("in_sample", in_sample)):
        chosen = {n: ch.config for n, ch in choose(table).items()}
        fwd = {n: results[chosen[n], "forward"][n] for n in clips.names}
        out[protocol] = summarise(
            clips, {n: r.scores for n, r in fwd.items()},
            {n: results[chosen[n], "backward"][n].scores[::-1] for n in clips.names},
            {n: r.boxes for n, r in fwd.items()}, {n: r.intervals for n, r in fwd.items()}, resamples)
        out[protocol]["configs"] = chosen
    return out


def baseline(clips: Clips, resamples: int) -> dict[str, Any]:
    """Largest 24 px cell flow magnitude of each frame, 9-frame mean: no scale, no learning."""
    plain = VideoExpert(cell=24)
    fwd, bwd = ({n: s[0].reshape(len(s[0]), -1).max(axis=1)[::order]
                 for n, s in clips.speeds(plain, direction).items()}
                for direction, order in (("forward", 1), ("backward", -1)))
    return summarise(clips, fwd, bwd, None, None, resamples)


def check_cache(clips: Clips) -> None:
    """The cached path gives what the public ``score`` gives (one clip, default config)."""
    name = clips.names[0]
    expert = VideoExpert()
    direct = Scored.of(expert.score(clips.videos["forward"][name]))
    assert np.allclose(direct.scores, clips.score(expert, "clip", "forward")[name].scores)


def confidence_table(clips: Clips) -> dict[str, Any]:
    """How often the default expert's video verdicts (``score >= 0.5``: anomalous) were right, per regime: every run
    of one label of every clip scored as a video of its own, alone (``"clip alone"``), against the normal runs of
    the other clips (``"references"``), and all runs of all clips as one ``score_many`` batch (``"batch"``)."""
    expert = VideoExpert()
    runs = clips.speeds(expert, "forward", "runs")
    truth = {n: [anomalous for _, _, anomalous in clips.runs["forward"][n]] for n in clips.names}
    videos = clips.run_videos["forward"]
    batch = expert.fit_stats([s for n in clips.names for s in runs[n]])
    scored: dict[str, dict[str, list[tuple[int, float]]]] = {"clip alone": {}, "references": {}, "batch": {}}
    for n in clips.names:
        refs = expert.fit_stats(clips.reference_speeds(expert, n), normal=True)
        for v, s, y in zip(videos[n], runs[n], truth[n], strict=True):
            for regime, stats in (("clip alone", expert.fit_stats([s])), ("references", refs), ("batch", batch)):
                scored[regime].setdefault(n, []).append((int(y), expert.judge(v, s, stats, regime).score))
    about = ("Verdict accuracy (score >= 0.5 means anomalous) of VideoExpert's default settings on UCSD Ped2, per "
             "regime, verdict and margin |score - 0.5|, each clip weighted equally; every run of one label of a "
             "clip is scored as a video of its own: alone ('clip alone'), against the normal runs of the other "
             "clips ('references'), or all runs of all clips as one batch ('batch'). Written by python "
             "benchmarks/video_quality.py --confidence-table.")
    return build_table(scored, about=about, config="default", params=params_of(expert), protocol="video-runs-v1")


def _fmt(value: float, ci: Sequence[float] | None = None) -> str:
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci is not None else "")


def print_summary(figures: dict[str, Any]) -> None:
    for mode in MODES:
        for protocol in ("out_of_sample", "in_sample"):
            f = figures[mode][protocol]
            print(f"{mode:10s} {protocol:13s} pooled {_fmt(f['pooled_frame_auroc'], f['pooled_frame_auroc_ci'])}"
                  f"  backwards {_fmt(f['pooled_frame_auroc_backwards'], f['pooled_frame_auroc_backwards_ci'])}"
                  f"  top cell on mask {_fmt(f['top_cell_on_mask'], f['top_cell_on_mask_ci'])}"
                  f"  normal<0.5 {f['normal_frames_below_half']:.3f}"
                  f"  anomalous>=0.5 {f['anomalous_frames_at_or_above_half']:.3f}"
                  f"  tIoU {f['mean_temporal_iou']:.3f}")
            print("    per clip: " + "  ".join(
                f"{n} {_fmt(c['frame_auroc'], c.get('frame_auroc_ci'))}" for n, c in f["clips"].items()
                if np.isfinite(c["frame_auroc"])))
            print("    configs: " + ", ".join(f"{n}: {c}" for n, c in f["configs"].items()))
    b = figures["baseline_max_cell_flow"]
    print(f"baseline   pooled {_fmt(b['pooled_frame_auroc'], b['pooled_frame_auroc_ci'])}  backwards "
          f"{_fmt(b['pooled_frame_auroc_backwards'], b['pooled_frame_auroc_backwards_ci'])}  per clip: "
          + "  ".join(f"{n} {c['frame_auroc']:.3f}" for n, c in b["clips"].items() if np.isfinite(c["frame_auroc"])))
    print("seconds per frame (flow + cells), by cell size: "
          + ", ".join(f"{c} px {s * 1000:.1f} ms" for c, s in figures["seconds_per_frame"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--confidence-table", type=Path, metavar="PATH",
                        help="only write the verdict-accuracy table of the default expert here, e.g. "
                             "src/genad/modalities/video/confidence.json")
    args = parser.parse_args()

    clips = Clips(args.data)
    if args.confidence_table:
        table = confidence_table(clips)
        args.confidence_table.write_text(json.dumps(table, indent=1, default=float) + "\n")
        print(f"confidence table written to {args.confidence_table}; {table['check']['summary']}")
        return
    check_cache(clips)
    figures: dict[str, Any] = {mode: evaluate_mode(clips, mode, args.resamples) for mode in MODES}
    figures["baseline_max_cell_flow"] = baseline(clips, args.resamples)
    figures["seconds_per_frame"] = clips.seconds_per_frame
    figures["frames"] = int(sum(lab.size for lab in clips.labels.values()))
    figures["runs"] = {n: [list(r) for r in runs] for n, runs in clips.runs["forward"].items()}
    print_summary(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=float))


if __name__ == "__main__":
    main()
