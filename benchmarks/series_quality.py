"""Quality of the local series expert on the shared series datasets, out-of-sample (reads ../shared/data).

NAB (causal expert, genad's NAB scorer, three profiles): every config of ``NAB_GRIDS[calibration]`` scores every
file; first the two halves of ``NAB_HALVES`` are scored as corpora of their own (the defaults on the development half,
on the test half and on all files; the knobs chosen on one half and scored on the other, both ways); then

- **in-sample**: the config with the best standard score on all 40 files, scored on them (what tuning reports);
- **leave-one-category-out**: for each NAB category, the config with the best standard score on the *other*
  categories' files (threshold optimised there, as NAB does) scores the category's files; once every category has
  been scored that way, the 40 held-out score maps are scored together as one NAB corpus (threshold optimised by
  the scorer over them, as NAB does for every detector). That pooled figure is comparable to the in-sample one;
  a category alone is not (NAB's threshold and normalisation are corpus-wide, and one category has no windows);
- **halves**: the same with ``NAB_HALVES`` (chosen on one half, scored on the other, both ways, pooled); the mean
  and range over all 35 ways to split the 7 categories 3 / 4 are printed as well;
- "fixed thr": the standard score when each held-out file is cut at the threshold optimised on its training
  categories instead (stricter: NAB itself re-optimises);
- event precision / recall: the expert's regions (points scoring >= 0.5) against the label windows after NAB's
  probationary period; a region is a hit if it overlaps a window, a window is found if a region overlaps it.

Intervals are 95 % percentile bootstraps resampling files (the configs chosen stay fixed; NAB's threshold is
re-optimised in every resample). UCR (by file) and SKAB (by category): the offline expert with ``OFFLINE_GRID``,
chosen by mean range-F1 (Tatbul et al.) on the other units, in-sample beside it; the causal default for reference.
SMAP/MSL: defaults only, on the telemetry column. Region columns: the largest region as a share of its series, the
files with a region longer than a tenth of the series, the same for the labels.

    python benchmarks/series_quality.py [--data ../shared/data] [--only nab|skab|ucr|smap] [--resamples 1000]
    python benchmarks/series_quality.py --example docs/img/series_example.png   # the plot in docs/series.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _confidence import build_table
from _oos import in_sample, leave_one_out

from genad._confidence import params_of
from genad.eval._datasets import EvalItem, read_dataset
from genad.eval._nab import (
    PROBATION_PERCENT,
    PROFILES,
    START_THRESHOLD,
    NabFile,
    file_rows,
    nab_scores,
    read_nab_results,
    sweep,
)
from genad.metrics import bootstrap_ci, range_precision_recall_f1, ranges_from_binary
from genad.modalities.series import SeriesExpert, SeriesSample

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NAB_GRIDS: dict[str, dict[str, dict[str, Any]]] = {
    "likelihood": {f"level {level:g} short {short}": {"shape_level": level, "short_margin": short}
                   for level in (4.0, 8.0, 16.0) for short in (0.1, 0.2, 0.4)},
    "record": {f"shape {shape} short {short}": {"shape_calibration": "record", "shape_margin": shape,
                                                "short_margin": short}
               for shape in (0.05, 0.1, 0.2) for short in (0.1, 0.2, 0.4)},
}
"""Per shape calibration, two knobs, three values each: the shape channel's anomalous level (``-log10`` tail
probability of its likelihood, or relative excess over its record) and the relative excess over the short value
record. The middle of each grid is the expert's default for that calibration."""
NAB_DEFAULTS = {"likelihood": "level 8 short 0.4", "record": "shape 0.1 short 0.2"}
OFFLINE_GRID: dict[str, dict[str, float]] = {f"z {z:g}": {"z_anomalous": z} for z in (4.0, 8.0, 16.0)}
NAB_HALVES = (("artificialWithAnomaly", "realKnownCause", "realTweets"),
              ("artificialNoAnomaly", "realAWSCloudwatch", "realAdExchange", "realTraffic"))
"""41 and 40 label windows. The first is the development half of the likelihood design (it was designed and its
knobs set on those 16 files only); the second is its test half (24 files, scored once per design decision)."""
Interval = tuple[int, int]


@dataclass(frozen=True)
class Scored:
    """One file scored by one config: the NAB input and the expert's region intervals."""

    nab: NabFile
    regions: tuple[Interval, ...]


def probation_length(n: int) -> float:
    """NAB's probationary period of an ``n``-row file (its first rows, never scored)."""
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


def run_configs(grid: dict[str, dict[str, Any]], mode: str, items: Sequence[EvalItem],
                sample_of: Callable[[EvalItem], tuple[SeriesSample, tuple[Any, ...]]]) -> dict[str, list[Scored]]:
    """Every config of ``grid`` on every item."""
    samples = [sample_of(item) for item in items]
    out: dict[str, list[Scored]] = {}
    for name, params in grid.items():
        expert = SeriesExpert(mode=mode, **params)  # type: ignore[arg-type]
        rows = []
        for item, (sample, refs) in zip(items, samples, strict=True):
            result = expert.score(sample, references=refs)
            assert result.anomaly_map is not None  # the series expert always returns its point scores
            rows.append(Scored(NabFile(item.name, result.anomaly_map, item.windows),
                               tuple(r.interval for r in result.regions if r.interval is not None)))
        out[name] = rows
    return out


class NabCurves:
    """NAB's normalised corpus score of any multiset of files, exact and fast enough to bootstrap.

    A corpus score is the best, over thresholds, of the sum of the files' raw scores; that maximum is reached at a
    threshold where some file's raw score rises, so each file's raw score is tabulated at those thresholds only.
    """

    def __init__(self, files: Sequence[NabFile], profile: str) -> None:
        cost = PROFILES[profile]
        curves = [sweep(file_rows(f, cost, 0)[0], cost)[:2] for f in files]
        rises = [t[1:][np.diff(s) > 0] for t, s in curves]
        self.grid = np.unique(np.concatenate([[START_THRESHOLD], *rises]))
        self.raw = np.stack([s[np.searchsorted(-t, -self.grid, side="right") - 1] for t, s in curves])
        nulls = []
        for f in files:
            null_scores = sweep(file_rows(NabFile(f.name, np.full(len(f.scores), 0.5), f.windows), cost, 0)[0],
                                 cost)[1]
            nulls.append((null_scores[0], null_scores[-1]))  # nothing detected, everything detected
        self.null = np.array(nulls)
        self.windows = np.array([len(f.windows) * cost.tp for f in files], dtype=np.float64)

    def threshold(self, rows: Sequence[int]) -> float:
        """The threshold NAB would choose on the files ``rows``: the highest of those with the best raw score."""
        total = self.raw[np.asarray(rows, dtype=np.int64)].sum(axis=0)
        return float(self.grid[np.flatnonzero(total == total.max())[-1]])

    def score(self, rows: Sequence[int]) -> float:
        idx = np.asarray(rows, dtype=np.int64)
        null = float(self.null[idx].sum(axis=0).max())
        perfect = float(self.windows[idx].sum())
        return 100.0 * (float(self.raw[idx].sum(axis=0).max()) - null) / (perfect - null)


def nab_figures(files: Sequence[NabFile], resamples: int) -> dict[str, tuple[float, float, float]]:
    """Per profile: the corpus score and its bootstrap interval (files resampled)."""
    exact = nab_scores(files)
    out = {}
    for profile in PROFILES:
        curves = NabCurves(files, profile)
        value = curves.score(range(len(files)))
        assert abs(value - exact[profile].normalized) < 1e-9, (value, exact[profile].normalized)
        low, high = bootstrap_ci(lambda rows, c=curves: c.score(rows), list(range(len(files))),
                                 n_resamples=resamples)
        out[profile] = (value, low, high)
    return out


def event_counts(regions: Sequence[Interval], windows: Sequence[Interval], start: float = 0.0) -> np.ndarray:
    """``[hits, regions, windows found, windows]``, ignoring regions and windows that end before ``start``."""
    regions = [r for r in regions if r[1] >= start]
    windows = [w for w in windows if w[1] >= start]
    overlaps = [[r[0] <= w[1] and w[0] <= r[1] for w in windows] for r in regions]
    hits = sum(any(row) for row in overlaps)
    found = sum(any(row[k] for row in overlaps) for k in range(len(windows)))
    return np.array([hits, len(regions), found, len(windows)], dtype=np.float64)


def event_figures(counts: Sequence[np.ndarray], resamples: int) -> list[tuple[float, float, float]]:
    """Pooled event precision and recall with bootstrap intervals (files resampled)."""
    out = []
    for num, den in ((0, 1), (2, 3)):
        def ratio(rows: Sequence[np.ndarray], a: int = num, b: int = den) -> float:
            total = np.sum(rows, axis=0)
            return float(total[a] / total[b]) if total[b] else float("nan")
        out.append((ratio(counts), *bootstrap_ci(ratio, list(counts), n_resamples=resamples)))
    return out


def nab_choose(curves: dict[str, NabCurves], rows: Sequence[int]) -> tuple[str, float]:
    """The config with the best standard NAB score on the files ``rows`` (first in grid order on ties), and the
    threshold that score used (NAB's: the highest of the best)."""
    best, best_value = "", -np.inf
    for name, c in curves.items():
        value = c.score(rows)
        if value > best_value:
            best, best_value = name, value
    return best, curves[best].threshold(rows)


def nab_assign(curves: dict[str, NabCurves], categories: Sequence[str],
               folds: Sequence[Sequence[str]]) -> tuple[list[str], list[float]]:
    """Per file, the config chosen without its fold (``folds`` are groups of categories) and that choice's
    training threshold; one fold means in-sample (chosen on all files)."""
    configs, thresholds = [""] * len(categories), [START_THRESHOLD] * len(categories)
    for fold in folds:
        test = [i for i, c in enumerate(categories) if c in fold]
        train = [i for i, c in enumerate(categories) if c not in fold] if len(folds) > 1 else test
        config, threshold = nab_choose(curves, train)
        for i in test:
            configs[i], thresholds[i] = config, threshold
    return configs, thresholds


def fixed_threshold_score(files: Sequence[NabFile], thresholds: Sequence[float]) -> float:
    """Standard score with every file cut at its own given threshold (normalised as NAB does)."""
    from genad.eval._nab import score_file

    raw = sum(score_file(f, t, "standard").score for f, t in zip(files, thresholds, strict=True))
    curves = NabCurves(files, "standard")
    null = float(curves.null.sum(axis=0).max())
    return 100.0 * (raw - null) / (float(curves.windows.sum()) - null)


def _figure_line(label: str, figures: dict[str, tuple[float, float, float]], extra: str = "") -> str:
    return f"{label:34s} " + " ".join(f"{v:6.2f} [{lo:5.1f}, {hi:5.1f}]" for v, lo, hi in figures.values()) + extra


def nab_halves_report(runs: dict[str, list[Scored]], curves: dict[str, NabCurves], categories: Sequence[str],
                      default: str, resamples: int) -> None:
    """Each half of ``NAB_HALVES`` scored as a corpus of its own (NAB threshold optimised on it): the defaults on the
    development half, the test half and all files; then the knobs chosen on one half and scored on the other."""
    halves = {"development half": NAB_HALVES[0], "test half": NAB_HALVES[1], "all files": tuple(set(categories))}
    rows = {k: [i for i, c in enumerate(categories) if c in v] for k, v in halves.items()}
    print(f"{'halves as corpora':34s} " + " ".join(f"{p:>22s}" for p in PROFILES) + f" {'fixed thr':>9s}")
    dev_threshold = curves[default].threshold(rows["development half"])
    for label, idx in rows.items():
        files = [runs[default][i].nab for i in idx]
        fixed = (f" {fixed_threshold_score(files, [dev_threshold] * len(files)):9.2f}"
                 if label == "test half" else "")
        print(_figure_line(f"defaults, {label} ({len(idx)} files)", nab_figures(files, resamples), fixed))
    for train, test in (("development half", "test half"), ("test half", "development half")):
        config, threshold = nab_choose(curves, rows[train])
        files = [runs[config][i].nab for i in rows[test]]
        print(_figure_line(f"chosen on {train.split()[0]}, on {test.split()[0]}", nab_figures(files, resamples),
                           f" {fixed_threshold_score(files, [threshold] * len(files)):9.2f}  ({config})"))


def nab_paired_report(default: Sequence[Scored], others: Mapping[str, Sequence[Scored]], categories: Sequence[str],
                      resamples: int) -> None:
    """Per half: another detector's standard score and the defaults' advantage over it, with a paired bootstrap
    interval (the same files resampled for both; NAB's threshold re-optimised for each in every resample)."""
    halves = {"development half": NAB_HALVES[0], "test half": NAB_HALVES[1], "all files": tuple(set(categories))}
    print(f"{'standard, paired with the defaults':42s} {'other':>7s} {'defaults - other':>24s}")
    for label, cats in halves.items():
        idx = [i for i, c in enumerate(categories) if c in cats]
        mine = NabCurves([default[i].nab for i in idx], "standard")
        for name, scored in others.items():
            theirs = NabCurves([scored[i].nab for i in idx], "standard")
            every = list(range(len(idx)))
            low, high = bootstrap_ci(lambda rows, m=mine, t=theirs: m.score(rows) - t.score(rows), every,
                                     n_resamples=resamples)
            print(f"{label + ', ' + name:42s} {theirs.score(every):7.2f} "
                  f"{mine.score(every) - theirs.score(every):+8.2f} [{low:+5.1f}, {high:+5.1f}]")


def nab_report(root: Path, resamples: int, calibration: str = "likelihood") -> None:
    items = list(read_dataset(root / "nab", "nab"))
    categories = [item.category for item in items]
    grid = NAB_GRIDS[calibration]
    start = time.perf_counter()
    runs = run_configs(grid, "causal", items, lambda item: (SeriesSample.from_path(item.sample), ()))
    print(f"NAB ({calibration} shape calibration): {len(items)} files, {sum(len(i.windows) for i in items)} "
          f"windows, {len(grid)} configs, expert time {time.perf_counter() - start:.1f} s")
    curves = {name: NabCurves([s.nab for s in scored], "standard") for name, scored in runs.items()}
    nab_halves_report(runs, curves, categories, NAB_DEFAULTS[calibration], resamples)
    print()
    other = "record" if calibration == "likelihood" else "likelihood"
    others = {f"{other} defaults": run_configs({"default": NAB_GRIDS[other][NAB_DEFAULTS[other]]}, "causal", items,
                                               lambda item: (SeriesSample.from_path(item.sample), ()))["default"]}
    reference = root / "nab_reference_results" / "numenta"
    if reference.is_dir():  # numenta HTM's published outputs on these files, for comparison
        htm = {f.name: f for f in read_nab_results(root / "nab", reference, "numenta")}
        others["numenta HTM"] = [Scored(htm[item.name], ()) for item in items]
    nab_paired_report(runs[NAB_DEFAULTS[calibration]], others, categories, resamples)
    print()
    cats = sorted(set(categories))
    protocols = {
        "in-sample": [cats],
        "leave one category out": [[c] for c in cats],
        "halves": [list(h) for h in NAB_HALVES],
    }
    print(f"{'protocol':24s} " + " ".join(f"{p:>22s}" for p in PROFILES)
          + f" {'fixed thr':>9s} {'event precision':>20s} {'event recall':>20s}")
    for name, folds in protocols.items():
        configs, thresholds = nab_assign(curves, categories, folds)
        files = [runs[c][i].nab for i, c in enumerate(configs)]
        figures = nab_figures(files, resamples)
        counts = [event_counts(runs[c][i].regions, items[i].windows, probation_length(len(runs[c][i].nab.scores)))
                  for i, c in enumerate(configs)]
        events = event_figures(counts, resamples)
        print(f"{name:24s} " + " ".join(f"{v:6.2f} [{lo:5.1f}, {hi:5.1f}]" for v, lo, hi in figures.values())
              + f" {fixed_threshold_score(files, thresholds):9.2f} "
              + " ".join(f"{v:6.3f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in events))
        chosen = sorted({(c, configs[categories.index(c)]) for c in cats})
        print("    chosen: " + "; ".join(f"{c}: {k}" for c, k in chosen) if len(folds) > 1
              else f"    chosen: {configs[0]}")
    pooled = []
    for half in itertools.combinations(cats, 3):
        configs, _ = nab_assign(curves, categories, [list(half), [c for c in cats if c not in half]])
        pooled.append(NabCurves([runs[c][i].nab for i, c in enumerate(configs)], "standard").score(range(len(items))))
    print(f"halves, all {len(pooled)} splits 3 / 4: standard mean {np.mean(pooled):.2f} "
          f"(min {np.min(pooled):.2f}, max {np.max(pooled):.2f})")
    print("every config on all files (standard): "
          + "; ".join(f"{k}: {c.score(range(len(items))):.2f}" for k, c in curves.items()))


def region_shares(scored: Sequence[Scored]) -> tuple[float, int, float, int]:
    """Largest region share of its series, files with a region over a tenth of it, the same for the labels."""
    def share(intervals: Sequence[Interval], n: int) -> float:
        return max(((b - a + 1) / n for a, b in intervals), default=0.0)
    regions = [share(s.regions, len(s.nab.scores)) for s in scored]
    labels = [share(s.nab.windows, len(s.nab.scores)) for s in scored]
    return (max(regions), sum(r > 0.1 for r in regions), max(labels), sum(x > 0.1 for x in labels))


def range_report(name: str, items: list[EvalItem], unit_of: Callable[[EvalItem], str], resamples: int,
                 shared_refs: tuple[Any, ...] = (), columns: list[str] | None = None,
                 oos: bool = True) -> None:
    """Range P/R/F1 and event P/R per protocol: offline grid out-of-sample and in-sample, causal default."""
    items = [item for item in items if item.windows]

    def sample_of(item: EvalItem) -> tuple[SeriesSample, tuple[Any, ...]]:
        sample = SeriesSample.from_array(item.sample[columns] if columns else item.sample, name=item.name)
        refs = tuple(r[columns] for r in item.references) if columns else (item.references or shared_refs)
        return sample, refs

    units = [unit_of(item) for item in items]
    start = time.perf_counter()
    runs = run_configs(OFFLINE_GRID if oos else {"default": {}}, "offline", items, sample_of)
    runs["causal default"] = run_configs({"default": {}}, "causal", items, sample_of)["default"]
    prf = {k: [range_precision_recall_f1(s.nab.windows, ranges_from_binary(np.asarray(s.nab.scores) >= 0.5),
                                         len(s.nab.scores)) for s in v] for k, v in runs.items()}
    print(f"{name}: {len(items)} files, {len(set(units))} units, {time.perf_counter() - start:.1f} s")
    offline = {k: {u: float(np.mean([prf[k][i][2] for i in range(len(items)) if units[i] == u])) for u in set(units)}
               for k in runs if k != "causal default"}
    protocols: dict[str, dict[str, str]] = {}
    if oos:
        protocols["offline, leave one unit out"] = {u: c.config for u, c in leave_one_out(offline).items()}
    protocols["offline, in-sample" if oos else "offline default"] = {u: c.config for u, c in in_sample(offline).items()}
    protocols["causal default"] = dict.fromkeys(units, "causal default")
    print(f"{'protocol':28s} {'range-P':>7s} {'range-R':>7s} {'range-F1':>22s} {'event P':>7s} {'event R':>7s}"
          "  largest region (files > 1/10) / label")
    for label, chosen in protocols.items():
        configs = [chosen[u] for u in units]
        rows = [prf[c][i] for i, c in enumerate(configs)]
        p, r, f = (float(np.nanmean([row[k] for row in rows])) for k in range(3))
        low, high = bootstrap_ci(lambda v: float(np.nanmean(v)), [row[2] for row in rows], n_resamples=resamples)
        scored = [runs[c][i] for i, c in enumerate(configs)]
        counts = np.sum([event_counts(s.regions, s.nab.windows) for s in scored], axis=0)
        big, n_big, big_label, n_big_label = region_shares(scored)
        print(f"{label:28s} {p:7.3f} {r:7.3f} {f:7.3f} [{low:5.3f}, {high:5.3f}] {counts[0] / counts[1]:7.3f} "
              f"{counts[2] / counts[3]:7.3f}  {big:.2f} ({n_big}) / {big_label:.2f} ({n_big_label})")
        if oos and label.startswith("offline, leave"):
            print("    chosen: " + "; ".join(f"{u}: {chosen[u]}" for u in sorted(chosen)))


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


CONFIDENCE_PARTS = 4  # each labelled series is cut into this many equal parts for the verdict-accuracy table


def confidence_table(root: Path) -> dict[str, Any]:
    """How often the default expert's series verdicts (``score >= 0.5``: anomalous) were right: every labelled series
    of NAB, SKAB, UCR and SMAP/MSL cut into :data:`CONFIDENCE_PARTS` equal parts, each scored alone; a part is
    anomalous when it overlaps a label window. Each dataset weighs the same."""
    expert = SeriesExpert()
    sets = {"NAB": (read_dataset(root / "nab", "nab"), None), "SKAB": (read_dataset(root / "skab", "skab"), None),
            "UCR": (read_dataset(root / "ucr_anomaly", "ucr"), None),
            "SMAP/MSL": (read_dataset(root / "nasa_smap_msl", "smap"), ["value"])}
    scored: dict[str, list[tuple[int, float]]] = {}
    for name, (items, columns) in sets.items():
        for item in items:
            if isinstance(item.sample, (str, Path)):
                values = SeriesSample.from_path(item.sample).values
            else:
                values = SeriesSample.from_array(item.sample[columns] if columns else item.sample).values
            edges = np.linspace(0, len(values), CONFIDENCE_PARTS + 1).astype(int)
            for a, b in itertools.pairwise(edges):
                label = any(w0 <= b - 1 and w1 >= a for w0, w1 in item.windows)
                part = SeriesSample.from_array(values[a:b])
                scored.setdefault(name, []).append((int(label), expert.score(part).score))
    about = ("Verdict accuracy (score >= 0.5 means anomalous) of SeriesExpert's default settings, per verdict and "
             "margin |score - 0.5|, each dataset weighted equally: every labelled series of NAB, SKAB, UCR and "
             f"SMAP/MSL cut into {CONFIDENCE_PARTS} equal parts, each scored alone ('series alone'; a part is "
             "anomalous when it overlaps a label window). Written by python benchmarks/series_quality.py "
             "--confidence-table.")
    return build_table({"series alone": scored}, about=about, config="default", params=params_of(expert),
                       protocol="series-parts-v1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--only", choices=["nab", "skab", "ucr", "smap"])
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval")
    parser.add_argument("--shape-calibration", choices=sorted(NAB_GRIDS), default="likelihood",
                        help="NAB grid: the default likelihood design, or the previous record design")
    parser.add_argument("--example", type=Path, help="only write the example plot PNG to this path")
    parser.add_argument("--confidence-table", type=Path, metavar="PATH",
                        help="only write the verdict-accuracy table of the default expert here, e.g. "
                             "src/genad/modalities/series/confidence.json")
    args = parser.parse_args()
    if args.example:
        save_example(args.example)
        return
    if args.confidence_table:
        table = confidence_table(args.data)
        args.confidence_table.write_text(json.dumps(table, indent=1) + "\n")
        print(f"confidence table written to {args.confidence_table}; {table['check']['summary']}")
        return
    root: Path = args.data
    if args.only in (None, "nab"):
        nab_report(root, args.resamples, args.shape_calibration)
        print()
    if args.only in (None, "ucr"):
        range_report("UCR", list(read_dataset(root / "ucr_anomaly", "ucr")), lambda item: item.name, args.resamples)
        print()
    if args.only in (None, "skab"):
        skab = list(read_dataset(root / "skab", "skab"))
        normal = tuple(item.sample for item in skab if not item.windows)
        range_report("SKAB", skab, lambda item: item.category, args.resamples, normal)
        print()
    if args.only in (None, "smap"):
        # column 0 is the telemetry the labels are about; the other columns are command one-hots (inputs)
        range_report("SMAP/MSL", list(read_dataset(root / "nasa_smap_msl", "smap")), lambda item: item.name,
                     args.resamples, columns=["value"], oos=False)


if __name__ == "__main__":
    main()
