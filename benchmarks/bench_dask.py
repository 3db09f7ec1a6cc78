"""``detect_many`` on Dask: the local image expert on 1 and 2 worker processes, and the cost Dask adds per task.

1. Speed-up: ``--n`` synthetic washer images (``genad.synthetic.write_set``, 256 x 256, a quarter normal), each
   scored by the local image expert against one normal reference alone (``batch_context=False``: one task per
   image; with the batch as context, the whole call is one task), on a ``LocalCluster`` of 1 and then 2 worker
   processes (one thread each, onnxruntime on one thread) on this machine; the ratio of the two wall times is the
   speed-up. The thread pool in this process (two threads sharing one expert) is shown for comparison. Times
   include each worker's one-time set-up (ONNX session, reference bank); starting the cluster is timed apart.
2. Overhead: ``--tasks`` detections with a no-op expert on 8 x 8 arrays, through the thread pool and through the
   two-worker cluster; the difference in wall time per task is what Dask adds (scheduling, pickling, the round
   trip to a worker process).

Run: ``python benchmarks/bench_dask.py [--n 300] [--tasks 1000]`` (needs the ``dask`` and ``image`` extras).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genad import Detector, ExpertResult
from genad.modalities.image import ImageExpert
from genad.synthetic import write_set


class NoopExpert:
    """Scores every sample 0 with no work: what is left of a detection is genad's and the executor's own cost."""

    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        return ExpertResult(score=0.0, raw_score=0.0)

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        return [self.score(s) for s in samples]


def _load() -> str:
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load average unknown"


def _cluster(workers: int) -> tuple[Any, Any, float]:
    from dask.distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(processes=True, n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    return cluster, client, time.perf_counter() - t0


def speedup(n: int, folder: Path) -> None:
    n_per_defect = max(1, round(n / 4))
    root = write_set(folder, n_good=n - 3 * n_per_defect + 1, n_per_defect=n_per_defect)
    goods = sorted((root / "washer" / "good").glob("*.png"))
    reference, paths = goods[0], sorted(p for p in (root / "washer").glob("*/*.png")
                                        if p != goods[0] and "ground_truth" not in p.parts)
    detector = Detector(mode="local", experts={"image": ImageExpert(threads=1, batch_context=False)})
    print(f"{len(paths)} washer images (256 x 256), each against one reference; {os.cpu_count()} cores; {_load()}")

    t0 = time.perf_counter()
    threads = detector.detect_many(paths, references=[reference], max_in_flight=2, progress=False)
    print(f"  thread pool, 2 threads in this process: {time.perf_counter() - t0:.1f} s "
          f"({len(paths) / (time.perf_counter() - t0):.1f} images/s)")
    walls = {}
    for workers in (1, 2):
        cluster, client, started = _cluster(workers)
        try:
            t0 = time.perf_counter()
            reports = detector.detect_many(paths, references=[reference], executor=client.get_executor(),
                                           max_in_flight=4 * workers, progress=False)
            walls[workers] = time.perf_counter() - t0
        finally:
            client.close()
            cluster.close()
        # Dask starts workers with one BLAS thread, which sums in another order: equal up to float rounding
        gap = max(abs((a.score or 0) - (b.score or 0)) for a, b in zip(threads, reports, strict=True))
        print(f"  Dask, {workers} worker process(es): {walls[workers]:.1f} s ({len(paths) / walls[workers]:.1f} "
              f"images/s; cluster start {started:.1f} s); largest score difference from the thread pool: "
              f"{gap:.1e}; {_load()}")
    print(f"  speed-up, 2 workers over 1: {walls[1] / walls[2]:.2f}x")


def overhead(tasks: int) -> None:
    rng = np.random.default_rng(0)
    samples = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(tasks)]
    detector = Detector(mode="local", experts={"image": NoopExpert()})
    refs = [samples[0]]  # with a reference: one task per sample (no zero-shot batch)
    detector.detect_many(samples[:50], references=refs, progress=False)  # warm up
    t0 = time.perf_counter()
    detector.detect_many(samples, references=refs, max_in_flight=16, progress=False)
    per_thread = (time.perf_counter() - t0) / tasks
    cluster, client, _ = _cluster(2)
    try:
        executor = client.get_executor()
        detector.detect_many(samples[:50], references=refs, executor=executor, progress=False)  # warm up
        t0 = time.perf_counter()
        detector.detect_many(samples, references=refs, executor=executor, max_in_flight=16, progress=False)
        per_dask = (time.perf_counter() - t0) / tasks
        per_bare = _round_trips(executor, tasks, 16) / tasks
    finally:
        client.close()
        cluster.close()
    print(f"{tasks} no-op detections (8 x 8 arrays), 16 in flight: thread pool {1000 * per_thread:.2f} ms per task, "
          f"Dask with 2 worker processes {1000 * per_dask:.2f} ms per task: Dask adds "
          f"{1000 * (per_dask - per_thread):.2f} ms per task (a bare no-op function through the same executor: "
          f"{1000 * per_bare:.2f} ms); {_load()}")


def _round_trips(executor: Any, tasks: int, in_flight: int) -> float:
    """Seconds to run ``tasks`` calls of a built-in no-op through ``executor``, ``in_flight`` at a time."""
    from concurrent.futures import FIRST_COMPLETED, wait

    t0 = time.perf_counter()
    pending = iter(range(tasks))
    running = {executor.submit(abs, -i) for i in (next(pending) for _ in range(in_flight))}
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            future.result()
            i = next(pending, None)
            if i is not None:
                running.add(executor.submit(abs, -i))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="images for the speed-up")
    parser.add_argument("--tasks", type=int, default=1000, help="no-op tasks for the overhead")
    args = parser.parse_args()
    try:
        import distributed  # noqa: F401
    except ImportError:
        sys.exit('needs the dask extra: pip install -e ".[dask]"')
    overhead(args.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        speedup(args.n, Path(tmp))


if __name__ == "__main__":
    main()
