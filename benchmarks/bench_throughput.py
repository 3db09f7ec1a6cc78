"""``detect_many`` throughput against a loopback OpenAI-compatible server that sleeps 500 ms per request.

Target (issue 2): 512 distinct 256x256 images with ``max_in_flight=32`` reach >= 85 % of ideal (>= 54 requests/s;
the ideal is 32 / 0.5 s = 64). Also prints genad's own CPU time per request (this process only: the server runs in
another process). Run: ``python benchmarks/bench_throughput.py [--n 512] [--in-flight 32] [--sleep 0.5]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from genad import Detector, OpenAIClient

LOOPBACK = Path(__file__).resolve().parents[1] / "tests" / "loopback.py"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--sleep", type=float, default=0.5)
    args = parser.parse_args()

    server = subprocess.Popen([sys.executable, str(LOOPBACK), "--port", "0", "--sleep", str(args.sleep)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().strip())
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(args.n)]
        client = OpenAIClient(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        detector = Detector(client=client, mode="vlm")
        detector.detect(images[0])  # connect and warm up
        cpu0, t0 = time.process_time(), time.perf_counter()
        reports = detector.detect_many(images, max_in_flight=args.in_flight, progress=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        server.kill()
    failed = [r for r in reports if not r.ok]
    ideal = args.in_flight / args.sleep
    rate = args.n / wall
    print(f"{args.n} requests, {args.in_flight} in flight, server sleeps {args.sleep * 1000:.0f} ms: "
          f"{rate:.1f} requests/s = {100 * rate / ideal:.0f} % of ideal {ideal:.0f}/s (target >= 85 %); "
          f"genad CPU {1000 * cpu / args.n:.1f} ms per request; {len(failed)} failed")


if __name__ == "__main__":
    main()
