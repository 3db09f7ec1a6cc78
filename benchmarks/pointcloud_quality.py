"""Quality of :class:`~genad.modalities.pointcloud.PointCloudExpert` on a point-cloud anomaly folder, out of sample.

Layout: ``<root>/<object>/good/*.ply`` and ``<root>/<object>/<defect>/*.ply`` with a per-point ``label``
(``../shared/data/pointcloud_mesh_defects``). Per object: object AUROC (good vs anomalous clouds) and point AUROC
(over every point of every scored cloud).

Modes:

- ``one-shot``: the first good cloud in sorted order is the reference; every other cloud is scored against it.
- ``pose-free``: the same, each scored cloud first given a random rotation and translation.
- ``zero-shot``: no reference; each cloud is scored on its own.
- ``batch``: no reference; each object's clouds are scored against each other (``score_many``).

``--random-pose`` gives every scored cloud a random pose in any mode (``pose-free`` is ``one-shot`` with it).

Protocol: every candidate config of the mode's grid (:data:`GRIDS`; one config where there is nothing to choose)
is scored on every object. The figure reported for an object comes from the config with the best mean of object
and point AUROC over the *other* objects (``_oos.leave_one_out``); the in-sample figure (one config, best over
all objects) stands beside it. Intervals are 95 % percentile bootstraps: object AUROC resamples the normal and the
anomalous clouds separately (``auroc_ci``), point AUROC resamples whole clouds the same way.

Run::

    python benchmarks/pointcloud_quality.py ../shared/data/pointcloud_mesh_defects --mode zero-shot
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _confidence import build_table
from _oos import in_sample, leave_one_out
from scipy.spatial.transform import Rotation

from genad._confidence import params_of
from genad.eval._datasets import read_dataset
from genad.metrics import auroc, auroc_ci, bootstrap_ci, point_auroc
from genad.modalities.pointcloud import PointCloudExpert, PointCloudSample

MODES = ("one-shot", "pose-free", "zero-shot", "batch")
#: Candidate configs (``PointCloudExpert`` keyword arguments) per mode: two knobs, the radii (point spacings) of the
#: zero-shot local descriptions and the radius (spacings) within which the mirror plane must hold for the mirror
#: deviation alone to decide. Modes not listed have one config, the library default.
GRIDS: dict[str, dict[str, dict[str, Any]]] = {
    "zero-shot": {
        f"r{','.join(f'{r:g}' for r in radii)} s{sym:g}": {"twin_radii": radii, "symmetry_radius": sym}
        for sym in (25.0, 40.0) for radii in ((6.0, 12.0), (6.0, 12.0, 20.0), (8.0, 16.0, 24.0))
    },
}


@dataclass
class ObjectRun:
    """One config's results on one object: cloud labels and scores, per-point truth and maps."""

    labels: list[int]
    scores: list[float]
    truths: list[np.ndarray]
    maps: list[np.ndarray]
    seconds: float

    @property
    def object_auroc(self) -> float:
        return auroc(self.labels, self.scores)

    @property
    def point_auroc(self) -> float:
        return point_auroc(self.truths, self.maps)

    def intervals(self, n_resamples: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """95 % bootstrap intervals of the object and the point AUROC."""
        obj = auroc_ci(self.labels, self.scores, n_resamples=n_resamples)
        pooled = _PooledPoints(self.truths, self.maps)
        normal = [i for i, y in enumerate(self.labels) if y == 0]
        anomalous = [i for i, y in enumerate(self.labels) if y == 1]
        return obj, bootstrap_ci(pooled.auroc, normal, anomalous, n_resamples=n_resamples)


class _PooledPoints:
    """Point AUROC of a resample of whole clouds (a cloud drawn twice counts twice), from one sort of all points."""

    def __init__(self, truths: list[np.ndarray], maps: list[np.ndarray]) -> None:
        scores = np.concatenate(maps).astype(np.float64)
        self.positive = np.concatenate(truths).astype(bool)
        self.cloud = np.repeat(np.arange(len(maps)), [len(m) for m in maps])
        _, self.level = np.unique(scores, return_inverse=True)  # tied scores share a level
        self.n_levels = int(self.level.max()) + 1
        self.n_clouds = len(maps)

    def auroc(self, *groups: list[int]) -> float:
        counts = np.bincount(np.concatenate(groups), minlength=self.n_clouds).astype(np.float64)
        weight = counts[self.cloud]
        pos = np.bincount(self.level, weights=weight * self.positive, minlength=self.n_levels)
        neg = np.bincount(self.level, weights=weight * ~self.positive, minlength=self.n_levels)
        below = np.cumsum(neg) - neg
        total = pos.sum() * neg.sum()
        return float((pos * (below + 0.5 * neg)).sum() / total) if total > 0 else float("nan")


def random_pose(sample: PointCloudSample, rng: np.random.Generator) -> PointCloudSample:
    """The cloud under a uniformly random rotation and a translation of up to its size along each axis."""
    rotation = Rotation.random(random_state=rng).as_matrix()
    size = float(np.ptp(sample.points, axis=0).max())
    points = sample.points @ rotation.T + rng.uniform(-size, size, 3)
    return PointCloudSample(points, attributes=sample.attributes, name=sample.name)


def evaluate(root: Path, mode: str, params: dict[str, Any], objects: list[str] | None, random_poses: bool,
             seed: int) -> dict[str, ObjectRun]:
    """Score every object's clouds with one config; the same poses for every config (same ``seed``)."""
    dataset = read_dataset(root, "pointcloud")
    expert = PointCloudExpert(**params)
    rng = np.random.default_rng(seed)
    runs: dict[str, ObjectRun] = {}
    for category in dataset.categories:
        if objects and category not in objects:
            continue
        items = dataset.category(category)
        goods = [it for it in items if it.is_normal]
        reference = PointCloudSample.from_path(goods[0].sample) if mode in ("one-shot", "pose-free") else None
        scored = [it for it in items if it is not goods[0]] if reference is not None else items
        clouds = [PointCloudSample.from_path(it.sample) for it in scored]
        if random_poses:
            clouds = [random_pose(c, rng) for c in clouds]
        start = time.perf_counter()
        if mode == "batch":
            results = expert.score_many(clouds)
        else:
            results = [expert.score(c, [reference] if reference is not None else []) for c in clouds]
        runs[category] = ObjectRun([it.label for it in scored], [r.score for r in results],
                                   [np.asarray(c.labels) for c in clouds],
                                   [np.asarray(r.anomaly_map, dtype=np.float32) for r in results],
                                   (time.perf_counter() - start) / len(clouds))
    return runs


def _cell(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def report(runs: dict[str, dict[str, ObjectRun]], n_resamples: int) -> None:
    """Print the grid, then per object the out-of-sample and the in-sample figures with their intervals."""
    objects = sorted(next(iter(runs.values())))
    print("grid (object / point AUROC, seconds per cloud):")
    for config, by_object in runs.items():
        cells = "  ".join(f"{o[:8]} {r.object_auroc:.3f}/{r.point_auroc:.3f}" for o, r in by_object.items())
        seconds = np.mean([r.seconds for r in by_object.values()])
        print(f"  {config:14s} {cells}  mean {np.mean([r.object_auroc for r in by_object.values()]):.3f}/"
              f"{np.mean([r.point_auroc for r in by_object.values()]):.3f}  {seconds:.2f} s", flush=True)
    objective = {c: {o: (r.object_auroc + r.point_auroc) / 2 for o, r in by.items()} for c, by in runs.items()}
    chosen = {"out-of-sample": leave_one_out(objective), "in-sample": in_sample(objective)}
    if len(objects) < 2:  # nothing to choose on
        del chosen["out-of-sample"]
    header = f"{'object':12s}"
    for name in chosen:
        header += f" | {name + ' config':16s} {'object AUROC':22s} {'point AUROC':22s}"
    print(header + " | good max  anomalous min (calibrated scores, in-sample config)")
    means: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    for obj in objects:
        line = f"{obj:12s}"
        for name, choice in chosen.items():
            run = runs[choice[obj].config][obj]
            obj_ci, pt_ci = run.intervals(n_resamples)
            means[name].append((run.object_auroc, run.point_auroc))
            line += (f" | {choice[obj].config:16s} {_cell(run.object_auroc, obj_ci):22s} "
                     f"{_cell(run.point_auroc, pt_ci):22s}")
        good_max = max(s for s, y in zip(run.scores, run.labels, strict=True) if y == 0)
        bad_min = min(s for s, y in zip(run.scores, run.labels, strict=True) if y == 1)
        print(f"{line} | {good_max:.2f}      {bad_min:.2f}", flush=True)
    line = f"{'mean':12s}"
    for values in means.values():
        obj_mean, pt_mean = np.mean(values, axis=0)
        line += f" | {'':16s} {obj_mean:<22.3f} {pt_mean:<22.3f}"
    print(line)


CONFIDENCE_MODES = {"zero-shot": "zero-shot", "one-shot": "1 reference", "batch": "batch"}  # mode -> regime


def confidence_table(root: Path) -> dict[str, Any]:
    """How often the default expert's verdicts (``score >= 0.5``: anomalous) were right, per regime, verdict and
    margin band, each object weighted equally: every cloud scored zero-shot, 1-shot and as a batch, as stored."""
    scored = {regime: {obj: list(zip(run.labels, run.scores, strict=True))
                       for obj, run in evaluate(root, mode, {}, None, False, 0).items()}
              for mode, regime in CONFIDENCE_MODES.items()}
    about = ("Verdict accuracy (score >= 0.5 means anomalous) of PointCloudExpert's default settings on the 8 "
             "objects of pointcloud_mesh_defects, per regime, verdict and margin |score - 0.5|, each object weighted "
             "equally: 'zero-shot': each cloud alone; '1 reference': every cloud but the first good one against it; "
             "'batch': each object's clouds as one score_many batch. Written by python "
             "benchmarks/pointcloud_quality.py DATA --confidence-table.")
    return build_table(scored, about=about, config="default", params=params_of(PointCloudExpert()),
                       protocol="pointcloud-v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--mode", choices=MODES, default="one-shot")
    parser.add_argument("--random-pose", action="store_true", help="give every scored cloud a random pose")
    parser.add_argument("--configs", nargs="*", default=None, help="score only these configs of the mode's grid")
    parser.add_argument("--objects", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random poses")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval")
    parser.add_argument("--confidence-table", type=Path, metavar="PATH",
                        help="only write the verdict-accuracy table of the default expert here, e.g. "
                             "src/genad/modalities/pointcloud/confidence.json")
    args = parser.parse_args()
    if args.confidence_table:
        table = confidence_table(args.root)
        args.confidence_table.write_text(json.dumps(table, indent=1, default=list) + "\n")
        print(f"confidence table written to {args.confidence_table}; {table['check']['summary']}")
        return
    grid = GRIDS.get(args.mode, {"default": {}})
    configs = {name: grid[name] for name in args.configs} if args.configs else grid
    random_poses = args.random_pose or args.mode == "pose-free"
    runs = {name: evaluate(args.root, args.mode, params, args.objects, random_poses, args.seed)
            for name, params in configs.items()}
    print(f"mode {args.mode}{' (random poses)' if random_poses else ''}, {len(configs)} config(s)")
    report(runs, args.resamples)


if __name__ == "__main__":
    main()
