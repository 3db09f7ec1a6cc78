"""Speed of the series modality (targets of issue 5).

- a 1,000,000-point datetime series becomes its rendered plots in <= 0.5 s (SeriesRenderer defaults);
- the causal SeriesExpert over all NAB files of ../shared/data takes <= 30 s in total (loading excluded).

    python benchmarks/bench_series.py [--repeat 5] [--data ../shared/data]

Wall time depends on what else runs on the machine: CPU time and the load average are printed too.
The first render is a warm-up (matplotlib's font cache); the median of the following ones is reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genad.modalities.series import SeriesExpert, SeriesRenderer, SeriesSample

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def bench_render(repeat: int) -> None:
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=1_000_000))
    values[654_321] += 500.0
    index = pd.date_range("2024-01-01", periods=values.size, freq="s")
    sample = SeriesSample.from_array(pd.Series(values, index=index, name="value"))
    renderer = SeriesRenderer()
    renderer.render(sample)
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        rendering = renderer.render(sample)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    print(f"render 1,000,000 points -> {len(rendering.images)} plots of {rendering.images[0].shape[1]}x"
          f"{rendering.images[0].shape[0]}: median wall {statistics.median(walls):.3f} s, "
          f"cpu {statistics.median(cpus):.3f} s (target <= 0.5 s)")


def bench_nab(root: Path) -> None:
    files = sorted((root / "nab" / "data").glob("*/*.csv"))
    if not files:
        print(f"NAB files not found under {root}; skipped")
        return
    samples = [SeriesSample.from_path(p) for p in files]
    expert = SeriesExpert(mode="causal")
    wall, cpu = time.perf_counter(), time.process_time()
    for s in samples:
        expert.score(s)
    print(f"causal expert over {len(samples)} NAB files ({sum(s.length for s in samples):,} points): "
          f"wall {time.perf_counter() - wall:.1f} s, cpu {time.process_time() - cpu:.1f} s (target <= 30 s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    bench_render(args.repeat)
    bench_nab(args.data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
