"""Find a dent in a point cloud, 1-shot, with the local geometric expert: offline, no model.

The clouds are made here with trimesh: a can (a cylinder) sampled to 12,000 points, and the same can with a dent
pressed into its side, turned to another pose (the expert registers the two, so poses need not match). The script
prints the report and how many of the flagged points lie in the dent, and writes the composite depth render (what
a vision-language model would be shown), with the flagged regions boxed in red, to
``examples_out/pointcloud_render.png``.

    python examples/pointcloud.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from genad import Detector
from genad.modalities.pointcloud import PointCloudRenderer, PointCloudSample

DENT_CENTRE = np.array([0.3, 0.0, 0.1])  # on the side of the can (radius 0.3)
DENT_RADIUS = 0.09


def can(seed: int, dent: bool) -> np.ndarray:
    """Points on a closed cylinder of radius 0.3 and height 0.8, optionally with a dent 0.04 deep."""
    mesh = trimesh.creation.cylinder(radius=0.3, height=0.8, sections=96)
    points, _ = trimesh.sample.sample_surface(mesh, 12_000, seed=seed)
    if dent:
        distance = np.linalg.norm(points - DENT_CENTRE, axis=1)
        inside = distance < DENT_RADIUS
        depth = 0.04 * np.cos(np.pi / 2 * distance[inside] / DENT_RADIUS) ** 2
        radial = points[inside, :2] / np.linalg.norm(points[inside, :2], axis=1, keepdims=True)
        points[inside, :2] -= radial * depth[:, None]
    return np.asarray(points) + np.random.default_rng(seed).normal(scale=0.001, size=points.shape)


def main(out_dir: Path) -> None:
    good = PointCloudSample.from_array(can(seed=0, dent=False), name="good can")
    dented_points = can(seed=1, dent=True)
    in_dent = np.linalg.norm(dented_points - DENT_CENTRE, axis=1) < DENT_RADIUS
    turn = Rotation.from_euler("xyz", [15, -20, 70], degrees=True).as_matrix()
    dented = PointCloudSample.from_array(dented_points @ turn.T, name="dented can")

    report = Detector(mode="local").detect(dented, references=[good])
    print(report)
    print(report.explanation)
    for region in report.regions:  # point-cloud regions are indices into dented.points
        assert region.indices is not None
        share = in_dent[region.indices].mean()
        print(f"  region {region.label!r}: {len(region.indices)} points, {share:.0%} of them in the dent")

    rendering = PointCloudRenderer().render(dented)
    composite = rendering.images[0].copy()
    for region in report.regions:
        for view in rendering.to_views(region):  # the region's box in each view of the composite
            if view.box is not None:
                x0, y0, x1, y1 = (round(v) for v in view.box)
                cv2.rectangle(composite, (x0 - 3, y0 - 3), (x1 + 3, y1 + 3), (230, 30, 30), 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "pointcloud_render.png"
    cv2.imwrite(str(target), cv2.cvtColor(composite, cv2.COLOR_RGB2BGR))
    print(f"composite render ({', '.join(rendering.labels) or 'one image'}) written to {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples_out"))
