"""Quality of :class:`~genad.modalities.pointcloud._expert.PointCloudExpert` on a point-cloud anomaly folder.

Layout: ``<root>/<object>/good/*.ply`` and ``<root>/<object>/<defect>/*.ply`` with a per-point ``label``
(``../shared/data/pointcloud_mesh_defects``). Per object: object AUROC (good vs anomalous clouds) and point AUROC
(over every point of every scored cloud).

Modes:

- ``one-shot``: the first good cloud in sorted order is the reference; every other cloud is scored against it.
- ``pose-free``: the same, each scored cloud first given a random rotation and translation.
- ``zero-shot``: no reference; each cloud is scored on its own.
- ``batch``: no reference; each object's clouds are scored against each other (``score_many``).

Run::

    python benchmarks/pointcloud_quality.py ../shared/data/pointcloud_mesh_defects --mode one-shot
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation
from sklearn.metrics import roc_auc_score

from genad.eval._datasets import read_dataset
from genad.modalities.pointcloud import PointCloudExpert, PointCloudSample

MODES = ("one-shot", "pose-free", "zero-shot", "batch")


def random_pose(sample: PointCloudSample, rng: np.random.Generator) -> PointCloudSample:
    """The cloud under a uniformly random rotation and a translation of up to its size along each axis."""
    rotation = Rotation.random(random_state=rng).as_matrix()
    size = float(np.ptp(sample.points, axis=0).max())
    points = sample.points @ rotation.T + rng.uniform(-size, size, 3)
    return PointCloudSample(points, attributes=sample.attributes, name=sample.name)


def evaluate(root: Path, mode: str, objects: list[str] | None, seed: int) -> list[dict[str, float | str]]:
    dataset = read_dataset(root, "pointcloud")
    expert = PointCloudExpert()
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float | str]] = []
    for category in dataset.categories:
        if objects and category not in objects:
            continue
        items = dataset.category(category)
        goods = [it for it in items if it.is_normal]
        reference = PointCloudSample.from_path(goods[0].sample) if mode in ("one-shot", "pose-free") else None
        scored = [it for it in items if it is not goods[0]] if reference is not None else items
        clouds = [PointCloudSample.from_path(it.sample) for it in scored]
        if mode == "pose-free":
            clouds = [random_pose(c, rng) for c in clouds]
        start = time.perf_counter()
        if mode == "batch":
            results = expert.score_many(clouds)
        else:
            results = [expert.score(c, [reference] if reference is not None else []) for c in clouds]
        elapsed = (time.perf_counter() - start) / len(clouds)
        labels = [it.label for it in scored]
        object_auroc = roc_auc_score(labels, [r.score for r in results])
        point_truth = np.concatenate([np.asarray(c.labels) for c in clouds])
        point_scores = np.concatenate([np.asarray(r.anomaly_map) for r in results])
        point_auroc = roc_auc_score(point_truth, point_scores)
        goods_max = max(r.score for r, y in zip(results, labels, strict=True) if y == 0)
        bad_min = min(r.score for r, y in zip(results, labels, strict=True) if y == 1)
        rows.append({"object": category, "object_auroc": object_auroc, "point_auroc": point_auroc,
                     "good_max": goods_max, "anomalous_min": bad_min, "seconds": elapsed})
        print(f"{category:12s} object {object_auroc:.3f}  point {point_auroc:.3f}  "
              f"good max {goods_max:.2f}  anomalous min {bad_min:.2f}  {elapsed:.2f} s/cloud", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--mode", choices=MODES, default="one-shot")
    parser.add_argument("--objects", nargs="*", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = evaluate(args.root, args.mode, args.objects, args.seed)
    mean_obj = float(np.mean([r["object_auroc"] for r in rows]))
    mean_pt = float(np.mean([r["point_auroc"] for r in rows]))
    print(f"{'mean':12s} object {mean_obj:.3f}  point {mean_pt:.3f}  ({args.mode})")


if __name__ == "__main__":
    main()
