"""How long ``import genad`` takes, against ``import numpy`` on the same machine (target: at most 0.3 s).

    python benchmarks/bench_import.py [--runs 20]

Each statement runs in a fresh interpreter ``--runs`` times, interleaved so machine load affects both alike;
prints the medians, the ratio, and the same for ``from genad import Detector`` (what a first detection imports).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "python": "pass",
    "import numpy": "import numpy",
    "import genad": "import genad",
    "from genad import Detector": "from genad import Detector",
}


def _once(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(args.runs):
        for name, statement in STATEMENTS.items():
            times[name].append(_once(statement))
    median = {name: statistics.median(values) for name, values in times.items()}
    for name, value in median.items():
        print(f"{name:28s} {value * 1000:7.1f} ms (median of {args.runs}, interpreter start included)")
    base = median["python"]
    print(f"import genad alone: {(median['import genad'] - base) * 1000:.1f} ms; "
          f"ratio to import numpy: {(median['import genad'] - base) / (median['import numpy'] - base):.2f}")
    print(f"target: import genad <= 300 ms wall: {'met' if median['import genad'] <= 0.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
