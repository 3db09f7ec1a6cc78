"""genad's own overhead per VLM request: load + render + encode + prompt + parse, server time excluded.

Target (issue 2): <= 10 ms for a 1024x1024 image. Run: ``python benchmarks/bench_overhead.py``.
The client is a ScriptedClient that answers instantly, so what is timed is genad's work alone.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from genad import Detector
from genad.modalities.image import ImageSample
from genad.testing import ScriptedClient

ANSWER = {
    "is_anomalous": True, "score": 0.8, "anomaly_type": "scratch",
    "regions": [{"image": 1, "box": [100, 120, 180, 200], "interval": None, "cells": None, "mark": None,
                 "label": "scratch", "confidence": 0.7}],
    "rejected_marks": [], "explanation": "A scratch on the surface.",
}


def main(n: int = 50) -> None:
    rng = np.random.default_rng(0)
    sample = ImageSample.from_array(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    detector = Detector(client=ScriptedClient(lambda messages: ANSWER), mode="vlm")
    detector.detect(sample)  # warm-up: imports, first encode
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        report = detector.detect(sample)
        times.append(time.perf_counter() - t0)
        assert report.ok
    med = statistics.median(times) * 1000
    p90 = sorted(times)[int(0.9 * n)] * 1000
    print(f"overhead per request, 1024x1024 random RGB (incompressible: worst case): median {med:.1f} ms, "
          f"p90 {p90:.1f} ms over {n} runs; target <= 10 ms")


if __name__ == "__main__":
    main()
