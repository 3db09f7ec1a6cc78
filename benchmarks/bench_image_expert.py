"""Speed and memory of the image expert in 1-shot mode on 256x256 images (targets: <= 150 ms, <= 1 GB RSS).

    python benchmarks/bench_image_expert.py            # 40 queries after a warm-up, 2 threads
    python benchmarks/bench_image_expert.py --n 100 --threads 1
    python benchmarks/bench_image_expert.py --expert backbone=lite2 resolution=256 fit=square
    python benchmarks/bench_image_expert.py --batch 32    # also: batches of 32 with the batch as context

Queries are code-drawn washers (genad.synthetic); the reference bank is built once (it is cached by content,
as in a batch with shared references) and its build time is reported separately. With ``--batch N``, the
queries are also scored in ``score_many`` calls of N with the one reference, where the batch is each image's
context (``batch_context``, the default), and the time per query of those calls is printed. Peak RSS is the process's
maximum resident set size. Wall time depends on what else runs: the CPU time per query and the load average
are printed too.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from genad.modalities.image import ImageExpert
from genad.synthetic import make_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="queries to time")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.add_argument("--expert", nargs="*", default=[], metavar="KEY=VALUE",
                        help="ImageExpert parameters (default: its own), e.g. backbone=lite1 resolution=240")
    parser.add_argument("--batch", type=int, default=0, metavar="N",
                        help="also time score_many calls of N queries with the one reference")
    args = parser.parse_args(argv)
    params = {k: int(v) if v.isdigit() else float(v) if v.replace(".", "", 1).isdigit() else v
              for k, _, v in (a.partition("=") for a in args.expert)}
    expert = ImageExpert(threads=args.threads, **params)  # type: ignore[arg-type]
    reference = make_image("washer", None, seed=0).image
    queries = [make_image("washer", "scratch" if i % 2 else None, seed=i + 1).image for i in range(args.n)]
    start = time.perf_counter()
    expert.score(queries[0], [reference])
    first = time.perf_counter() - start
    times, cpu = [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.process_time()
        expert.score(q, [reference])
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    ms = np.asarray(times) * 1000
    cpu_ms = np.asarray(cpu) * 1000
    batch_ms = []
    for at in range(0, len(queries) - args.batch + 1, args.batch) if args.batch > 0 else ():
        start = time.perf_counter()
        expert.score_many(queries[at:at + args.batch], [reference])
        batch_ms.append((time.perf_counter() - start) * 1000 / args.batch)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"expert: {expert.__getstate__()}")
    print(f"first call (session + reference bank): {first * 1000:.0f} ms")
    print(f"1-shot 256x256, {args.n} queries: median {np.median(ms):.0f} ms, p90 {np.percentile(ms, 90):.0f} ms,"
          f" mean {ms.mean():.0f} ms (target <= 150 ms)")
    print(f"CPU time per query (all threads): median {np.median(cpu_ms):.0f} ms; load average {os.getloadavg()[0]:.1f}"
          f" on {os.cpu_count()} cores")
    if batch_ms:
        print(f"1-shot 256x256 in score_many calls of {args.batch} (the batch as context): median "
              f"{np.median(batch_ms):.0f} ms per query over {len(batch_ms)} calls")
    print(f"peak RSS: {rss:.0f} MiB (target <= 1024 MiB)")
    return 0 if np.median(ms) <= 150 and rss <= 1024 else 1


if __name__ == "__main__":
    sys.exit(main())
