"""Quality of the local series expert on the shared series datasets (reads ../shared/data; nothing is copied).

NAB: the causal expert on every file, scored by genad's NAB scorer, all three profiles, per category.
SKAB, UCR, SMAP/MSL: range-based precision/recall/F1 (Tatbul et al.) of the points scoring >= 0.5, offline and
causal, with the dataset's normal data as references (SKAB's anomaly-free run, UCR's training prefix, SMAP's
training arrays). SMAP/MSL are scored on their telemetry column (``value``); the other columns are command inputs.

    python benchmarks/series_quality.py [--data ../shared/data] [--only nab]
    python benchmarks/series_quality.py --example docs/img/series_example.png   # the plot in docs/series.md
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from genad.eval._datasets import EvalItem, read_dataset
from genad.eval._nab import PROBATION_PERCENT, PROFILES, NabFile, nab_scores
from genad.metrics import range_precision_recall_f1, ranges_from_binary
from genad.modalities.series import SeriesExpert, SeriesSample

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def nab_report(root: Path) -> None:
    expert = SeriesExpert(mode="causal")
    items = list(read_dataset(root / "nab", "nab"))
    start = time.perf_counter()
    files = []
    for item in items:
        amap = expert.score(SeriesSample.from_path(item.sample)).anomaly_map
        assert amap is not None  # the series expert always returns its point scores
        files.append(NabFile(item.name, amap, item.windows))
    elapsed = time.perf_counter() - start
    scores = nab_scores(files)
    print(f"NAB: {len(files)} files, {sum(len(f.windows) for f in files)} windows, expert time {elapsed:.1f} s")
    print("profile              score  threshold")
    for name in PROFILES:
        s = scores[name]
        print(f"{name:20s} {s.normalized:6.2f}  {s.threshold:.3f}")
    found, flagged = windows_found(files, scores["standard"].threshold)
    print(f"standard threshold: {found} of {sum(len(f.windows) for f in files)} windows found, {flagged} rows flagged "
          "outside windows (probation excluded)")
    print("\nper category (raw NAB score at the corpus threshold, and normalised within the category):")
    print("category               files  " + "  ".join(f"{p:>20s}" for p in PROFILES))
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        by_cat[item.category].append(i)
    for cat, idx in sorted(by_cat.items()):
        cells = []
        for name in PROFILES:
            s = scores[name]
            raw = sum(s.files[i].score for i in idx)
            n_windows = sum(len(files[i].windows) for i in idx)
            cost = PROFILES[name]
            null = -cost.fn * n_windows
            perfect = cost.tp * n_windows
            norm = 100 * (raw - null) / (perfect - null) if n_windows else float("nan")
            cells.append(f"{raw:8.2f} ({norm:6.1f})")
        print(f"{cat:22s} {len(idx):5d}  " + "  ".join(f"{c:>20s}" for c in cells))


def probation_length(n: int) -> float:
    """NAB's probationary period of an ``n``-row file (its first rows, never scored)."""
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


def windows_found(files: list[NabFile], threshold: float) -> tuple[int, int]:
    """Windows with at least one row scoring ``>= threshold``, and such rows outside every window, after NAB's
    probationary period."""
    found = flagged = 0
    for f in files:
        hot = np.flatnonzero(np.asarray(f.scores) >= threshold)
        hot = hot[hot >= probation_length(len(f.scores))]
        inside = np.zeros(hot.size, dtype=bool)
        for a, b in f.windows:
            in_window = (hot >= a) & (hot <= b)
            found += bool(in_window.any())
            inside |= in_window
        flagged += int((~inside).sum())
    return found, flagged


def range_report(name: str, items: list[EvalItem], shared_refs: tuple[object, ...] = (),
                 columns: list[str] | None = None) -> None:
    for mode in ("offline", "causal"):
        expert = SeriesExpert(mode=mode)
        rows = []
        start = time.perf_counter()
        for item in items:
            if not item.windows:
                continue
            sample = SeriesSample.from_array(item.sample[columns] if columns else item.sample, name=item.name)
            refs = tuple(r[columns] for r in item.references) if columns else (item.references or shared_refs)
            amap = expert.score(sample, references=refs).anomaly_map
            assert amap is not None
            predicted = ranges_from_binary(amap >= 0.5)
            rows.append(range_precision_recall_f1(item.windows, predicted, sample.length))
        elapsed = time.perf_counter() - start
        p, r, f = (np.nanmean([row[k] for row in rows]) for k in range(3))
        print(f"{name:10s} {mode:8s} files={len(rows):3d}  range-P={p:.3f}  range-R={r:.3f}  range-F1={f:.3f}  "
              f"({elapsed:.1f} s)")


def save_example(path: Path) -> None:
    """Render a code-made series (a daily cycle with a spike and a flat stretch) as the VLM sees it."""
    import cv2
    import pandas as pd

    from genad.modalities.series import SeriesRenderer

    rng = np.random.default_rng(7)
    n = 1800  # 6.25 days at 5-minute steps: one plot
    t = np.arange(n)
    values = 50 + 30 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)
    values[1100] += 45.0
    values[1400:1480] = values[1399]
    index = pd.date_range("2024-05-06", periods=n, freq="5min")
    sample = SeriesSample.from_array(pd.Series(values, index=index, name="requests per minute"))
    rendering = SeriesRenderer().render(sample)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rendering.images[0], cv2.COLOR_RGB2BGR))
    print(f"wrote {path}: {rendering.labels[0]}")
    for mode in ("offline", "causal"):
        result = SeriesExpert(mode=mode).score(sample)
        print(f"{mode} expert regions:", [(r.interval, str(r.span[0]) if r.span else None,
                                           round(r.confidence or 0, 2)) for r in result.regions])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", choices=["nab", "skab", "ucr", "smap"])
    parser.add_argument("--example", type=Path, help="only write the example plot PNG to this path")
    args = parser.parse_args()
    if args.example:
        save_example(args.example)
        return
    root: Path = args.data
    if args.only in (None, "nab"):
        nab_report(root)
        print()
    if args.only in (None, "skab"):
        skab = list(read_dataset(root / "skab", "skab"))
        normal = tuple(item.sample for item in skab if not item.windows)
        range_report("SKAB", skab, normal)
    if args.only in (None, "ucr"):
        range_report("UCR", list(read_dataset(root / "ucr_anomaly", "ucr")))
    if args.only in (None, "smap"):
        # column 0 is the telemetry the labels are about; the other columns are command one-hots (inputs)
        range_report("SMAP/MSL", list(read_dataset(root / "nasa_smap_msl", "smap")), columns=["value"])


if __name__ == "__main__":
    main()
