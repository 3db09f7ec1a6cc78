"""Speed and memory of the point-cloud pipeline.

Targets (issue 6): 1,000,000 points become 4 depth views at 512x512 in <= 0.3 s using <= 1 GB, and a
20,000-point cloud is scored 1-shot in <= 1 s, on 2 cores. Zero-shot (no reference) time for the same cloud is
reported too. Each figure is the median of ``--repeat`` runs after
one warm-up; peak memory is the process's peak resident set size (``ru_maxrss``) after the rendering runs.

Run::

    python benchmarks/bench_pointcloud.py
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from genad.modalities.pointcloud import PointCloudExpert, PointCloudRenderer, PointCloudSample


def surface_cloud(n: int, seed: int) -> PointCloudSample:
    """``n`` noisy points on a torus-knot-like tube (a non-trivial, asymmetric surface)."""
    mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=0.3)
    mesh.vertices[:, 2] += 0.3 * np.sin(2 * np.arctan2(mesh.vertices[:, 1], mesh.vertices[:, 0]))
    points, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    points = np.asarray(points) + np.random.default_rng(seed).normal(scale=0.002, size=(n, 3))
    return PointCloudSample.from_array(points)


def median_seconds(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``fn`` (CPU time is less inflated when the machine is shared)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(wall)), float(np.median(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    big = surface_cloud(1_000_000, seed=0)
    renderer = PointCloudRenderer(n_views=4, size=512)
    render_s, render_cpu = median_seconds(lambda: renderer.render(big), args.repeat)
    tracemalloc.start()
    renderer.render(big)
    _, render_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"render 1,000,000 points -> 4 views 512x512: {render_s:.3f} s wall, {render_cpu:.3f} s CPU "
          f"(target <= 0.3 s); rendering allocates at most {render_peak / 2**20:.0f} MB on top of the cloud, "
          f"process peak RSS {rss:.0f} MB (target <= 1024 MB)")

    reference = surface_cloud(20_000, seed=1)
    rotation = Rotation.random(random_state=2).as_matrix()
    test = PointCloudSample.from_array(surface_cloud(20_000, seed=3).points @ rotation.T + 0.5)
    score_s, score_cpu = median_seconds(lambda: PointCloudExpert().score(test, [reference]), args.repeat)
    print(f"score 20,000 points 1-shot (random pose), reference prepared in the call: {score_s:.3f} s wall, "
          f"{score_cpu:.3f} s CPU (target <= 1 s)")
    expert = PointCloudExpert()
    warm_s, warm_cpu = median_seconds(lambda: expert.score(test, [reference]), args.repeat)
    print(f"  the same with the reference already prepared (same expert, same reference object): {warm_s:.3f} s wall, "
          f"{warm_cpu:.3f} s CPU")
    zero_s, zero_cpu = median_seconds(lambda: PointCloudExpert().score(test), args.repeat)
    print(f"score 20,000 points zero-shot (no reference): {zero_s:.3f} s wall, {zero_cpu:.3f} s CPU")


if __name__ == "__main__":
    main()
