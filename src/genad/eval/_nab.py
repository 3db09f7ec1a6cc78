"""The Numenta Anomaly Benchmark score, rule for rule as numenta/NAB's ``Sweeper`` computes it (NAB v1.1, MIT).

Rules (positions are row indices of one data file):

- the first ``min(floor(0.15 * n), 0.15 * 5000)`` rows are probationary: they never count;
- a row inside a window ``[a, b]`` (width ``w = b - a + 1``) is worth
  ``tp * sigma(-(b - i + 1) / w) / sigma(-1)`` if detected, with ``sigma(x) = 2 / (1 + exp(5x)) - 1``
  (``-1`` when ``x > 3``); a window scores the best (first) of its detections, or ``-fn`` if none;
- a detected row outside every window is worth ``fp * sigma(|i - b| / (w - 1))`` using the closest preceding window
  ``[a, b]`` of width ``w``, or ``-fp`` when no window precedes it;
- a file's raw score at a threshold is the sum over its windows and false positives, detections being rows with
  ``anomaly_score >= threshold``;
- the threshold of each profile is the one maximising the summed raw score over the whole corpus
  (ties: the highest threshold); NAB's sweep starts from 1.1, which detects nothing;
- the normalised score is ``100 * (raw - null) / (perfect - null)``, ``null`` being the raw score of the null
  detector (constant 0.5 output, threshold optimised the same way) and ``perfect`` the number of labelled windows
  times the profile's TP weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genad.errors import InputError

__all__ = [
    "PROFILES",
    "CorpusScore",
    "CostMatrix",
    "FileScore",
    "NabFile",
    "file_rows",
    "nab_scores",
    "optimize_threshold",
    "read_nab_results",
    "scaled_sigmoid",
    "score_corpus",
    "score_file",
    "sweep",
]

START_THRESHOLD = 1.1
PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class CostMatrix:
    """The weights of one NAB application profile."""

    tp: float
    fp: float
    fn: float


PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostMatrix(tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostMatrix(tp=1.0, fp=0.11, fn=2.0),
}


@dataclass(frozen=True, eq=False)
class NabFile:
    """One data file: its per-row anomaly scores and inclusive ``(start, end)`` window rows, in order."""

    name: str
    scores: np.ndarray
    windows: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class FileScore:
    """One file's raw score at a threshold, with NAB's per-row counts (probationary rows excluded)."""

    name: str
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.tn + self.fp + self.fn


@dataclass(frozen=True)
class CorpusScore:
    """A detector's result on a corpus for one profile: per-file raw scores, total, null/perfect and normalised."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    files: tuple[FileScore, ...]

    @property
    def normalized(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's ``2 * sigmoid(-5 x) - 1``, and ``-1`` beyond ``x > 3``."""
    x = np.asarray(position, dtype=np.float64)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0
    return np.where(x > 3.0, -1.0, value)


@dataclass(frozen=True)
class _Rows:
    """The scorable (non-probationary) rows of one or more files."""

    anomaly: np.ndarray  # anomaly score per row
    sweep: np.ndarray  # weighted score if the row were detected
    window: np.ndarray  # global window id, -1 outside windows
    n_windows: int  # windows with at least one scorable row


def _probation_length(n: int) -> float:
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


def file_rows(f: NabFile, cost: CostMatrix, first_window_id: int) -> tuple[_Rows, int]:
    scores = np.asarray(f.scores, dtype=np.float64).ravel()
    n = scores.size
    windows = sorted(f.windows)
    for a, b in windows:
        if not 0 <= a <= b < n:
            raise InputError(f"{f.name}: window ({a}, {b}) outside its {n} rows")
    idx = np.arange(n)
    sweep = np.empty(n)
    window = np.full(n, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(-1.0))
    prev_end: int | None = None
    prev_width = 0.0
    cursor = 0
    for k, (a, b) in enumerate([*windows, (n, n)]):
        gap = idx[cursor:a]  # rows after the previous window, before this one
        if prev_end is None:
            sweep[cursor:a] = -1.0 * cost.fp
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                position = np.abs(prev_end - gap) / (prev_width - 1.0)
            sweep[cursor:a] = scaled_sigmoid(position) * cost.fp
        if k == len(windows):
            break
        width = float(b - a + 1)
        inside = idx[a:b + 1]
        sweep[a:b + 1] = scaled_sigmoid(-(b - inside + 1) / width) * cost.tp / max_tp
        window[a:b + 1] = first_window_id + k
        prev_end, prev_width, cursor = b, width, b + 1
    keep = idx >= _probation_length(n)
    kept_windows = np.unique(window[keep & (window >= 0)])
    rows = _Rows(scores[keep], sweep[keep], window[keep], int(kept_windows.size))
    return rows, first_window_id + len(windows)


def sweep(rows: _Rows, cost: CostMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds in NAB's order, the raw score at each, and TP/FP row counts (detections are ``>= threshold``)."""
    order = np.argsort(-rows.anomaly, kind="stable")
    anomaly, sweep, window = rows.anomaly[order], rows.sweep[order], rows.window[order]
    in_window = window >= 0
    # false positives add their sweep score; a window adds the rise of its running best over -fn
    delta = np.where(in_window, 0.0, sweep)
    if in_window.any():
        import pandas as pd

        best = pd.Series(sweep[in_window]).groupby(window[in_window]).cummax().to_numpy()
        before = pd.Series(best).groupby(window[in_window]).shift(1).fillna(-cost.fn).to_numpy()
        delta[in_window] = np.maximum(best, -cost.fn) - np.maximum(before, -cost.fn)
    base = -cost.fn * rows.n_windows
    running = base + np.cumsum(delta)
    tp_running = np.cumsum(in_window)
    fp_running = np.cumsum(~in_window)
    last_of_value = np.flatnonzero(np.append(anomaly[1:] != anomaly[:-1], True))
    thresholds = anomaly[last_of_value]
    scores = running[last_of_value]
    tps, fps = tp_running[last_of_value], fp_running[last_of_value]
    if anomaly.size == 0 or anomaly[0] != START_THRESHOLD:
        thresholds = np.concatenate([[START_THRESHOLD], thresholds])
        scores = np.concatenate([[base], scores])
        tps, fps = np.concatenate([[0], tps]), np.concatenate([[0], fps])
    return thresholds, scores, np.stack([tps, fps])


def _rows(files: Sequence[NabFile], cost: CostMatrix) -> _Rows:
    parts: list[_Rows] = []
    next_id = 0
    for f in files:
        rows, next_id = file_rows(f, cost, next_id)
        parts.append(rows)
    return _Rows(
        np.concatenate([p.anomaly for p in parts]) if parts else np.empty(0),
        np.concatenate([p.sweep for p in parts]) if parts else np.empty(0),
        np.concatenate([p.window for p in parts]) if parts else np.empty(0, dtype=np.int64),
        sum(p.n_windows for p in parts),
    )


def optimize_threshold(files: Sequence[NabFile], profile: str = "standard") -> tuple[float, float]:
    """The threshold maximising the corpus raw score (highest threshold on ties), and that score."""
    cost = PROFILES[profile]
    thresholds, scores, _ = sweep(_rows(files, cost), cost)
    best = int(np.argmax(scores))
    return float(thresholds[best]), float(scores[best])


def score_file(f: NabFile, threshold: float, profile: str = "standard") -> FileScore:
    """A file's raw score when rows with ``anomaly_score >= threshold`` are detections."""
    cost = PROFILES[profile]
    rows, _ = file_rows(f, cost, 0)
    thresholds, scores, counts = sweep(rows, cost)
    # NAB takes the row whose threshold equals the given one, else the last row above it
    match = len(thresholds) - 1
    for k, t in enumerate(thresholds):
        if t == threshold:
            match = k
            break
        if t < threshold:
            match = max(k - 1, 0)
            break
    n_in = int(np.count_nonzero(rows.window >= 0))
    tp, fp = int(counts[0, match]), int(counts[1, match])
    return FileScore(f.name, float(threshold), float(scores[match]), tp, rows.window.size - n_in - fp, fp, n_in - tp)


def score_corpus(files: Sequence[NabFile], profile: str = "standard", threshold: float | None = None) -> CorpusScore:
    """Score a corpus for one profile; ``threshold=None`` optimises it on this corpus first."""
    if not files:
        raise InputError("NAB scoring needs at least one file")
    if threshold is None:
        threshold, _ = optimize_threshold(files, profile)
    per_file = tuple(score_file(f, threshold, profile) for f in files)
    null_files = [NabFile(f.name, np.full(np.asarray(f.scores).size, 0.5), f.windows) for f in files]
    null_threshold, _ = optimize_threshold(null_files, profile)
    null = sum(score_file(f, null_threshold, profile).score for f in null_files)
    perfect = sum(len(f.windows) for f in files) * PROFILES[profile].tp
    return CorpusScore(profile, float(threshold), float(sum(s.score for s in per_file)), float(null), perfect,
                       per_file)


def read_nab_results(data_root: str | Path, results_root: str | Path, detector: str) -> list[NabFile]:
    """NAB-style detector outputs (``<results_root>/<category>/<detector>_<file>.csv`` with an ``anomaly_score``
    column, one row per data row) paired with the windows of the NAB corpus at ``data_root``."""
    import pandas as pd

    from genad.eval._datasets import read_dataset

    files = []
    for item in read_dataset(data_root, "nab"):
        category, name = item.name.split("/", 1)
        path = Path(results_root) / category / f"{detector}_{name}"
        if not path.is_file():
            raise InputError(f"no {detector} output for {item.name}: {path}")
        scores = pd.read_csv(path)["anomaly_score"].to_numpy(dtype=np.float64)
        if item.timestamps is not None and len(scores) != len(item.timestamps):
            raise InputError(f"{path} has {len(scores)} rows, the data file {len(item.timestamps)}")
        files.append(NabFile(item.name, scores, item.windows))
    return files


def nab_scores(files: Sequence[NabFile], thresholds: dict[str, float] | None = None) -> dict[str, CorpusScore]:
    """All three profiles, thresholds optimised per profile (or taken from ``thresholds``)."""
    return {name: score_corpus(files, name, (thresholds or {}).get(name)) for name in PROFILES}
