"""Draw the figures of ``docs/pointcloud.md`` from a cloud generated here (no dataset files).

A plate with a boss (trimesh primitives, sampled) gets a dent; the script writes what the VLM sees (the composite
depth render) and the same render with the expert's 1-shot candidate regions boxed in every view.

Run::

    python benchmarks/pointcloud_figure.py docs/img
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from genad.modalities.pointcloud import PointCloudExpert, PointCloudRenderer, PointCloudSample


def part(seed: int, dent: bool) -> PointCloudSample:
    """A 1.0 x 0.6 x 0.12 plate with a cylindrical boss, 20,000 noisy surface points, optionally dented."""
    plate = trimesh.creation.box(extents=(1.0, 0.6, 0.12))
    boss = trimesh.creation.cylinder(radius=0.12, height=0.2, sections=64)
    boss.apply_translation((-0.25, 0.0, 0.1))
    pts_plate, _ = trimesh.sample.sample_surface(plate, 14_000, seed=seed)
    pts_boss, _ = trimesh.sample.sample_surface(boss, 6_000, seed=seed + 1)
    pts = np.vstack([pts_plate, pts_boss])
    if dent:
        r = np.linalg.norm(pts[:, :2] - (0.25, 0.1), axis=1)
        top = (pts[:, 2] > 0.06 - 1e-6) & (r < 0.1)
        pts[top, 2] -= 0.03 * np.cos(np.pi / 2 * r[top] / 0.1) ** 2
    pts = pts + np.random.default_rng(seed).normal(scale=0.001, size=pts.shape)
    return PointCloudSample.from_array(pts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    reference = part(0, dent=False)
    rotation = Rotation.from_euler("xyz", [20, -35, 60], degrees=True).as_matrix()
    test = PointCloudSample.from_array(part(1, dent=True).points @ rotation.T)  # any pose
    rendering = PointCloudRenderer().render(test)
    composite = rendering.images[0]
    cv2.imwrite(str(args.out / "pointcloud_render.png"), composite[:, :, ::-1])
    result = PointCloudExpert().score(test, [reference])
    marked = composite.copy()
    for number, region in enumerate(result.regions, 1):
        for box in rendering.to_views(region):
            assert box.box is not None
            x0, y0, x1, y1 = (int(v) for v in box.box)
            cv2.rectangle(marked, (x0 - 3, y0 - 3), (x1 + 3, y1 + 3), (220, 20, 20), 2)
            cv2.putText(marked, str(number), (x0, max(y0 - 6, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (220, 20, 20), 1,
                        cv2.LINE_AA)
    cv2.imwrite(str(args.out / "pointcloud_expert.png"), marked[:, :, ::-1])
    print(f"score {result.score:.2f} (raw {result.raw_score:.1f} noise units), {len(result.regions)} region(s); "
          f"wrote {args.out / 'pointcloud_render.png'} and {args.out / 'pointcloud_expert.png'}")


if __name__ == "__main__":
    main()
