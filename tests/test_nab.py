"""The NAB scorer: hand-computed cases for each rule, and the official scores of two NAB detectors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from genad.errors import InputError
from genad.eval._nab import (
    NabFile,
    nab_scores,
    optimize_threshold,
    read_nab_results,
    scaled_sigmoid,
    score_corpus,
    score_file,
)


def _sigma(x: float) -> float:
    return -1.0 if x > 3 else 2 / (1 + math.exp(5 * x)) - 1


def _file(n: int, hits: list[int], windows: tuple[tuple[int, int], ...]) -> NabFile:
    scores = np.zeros(n)
    scores[hits] = 1.0
    return NabFile("f.csv", scores, windows)


def test_scaled_sigmoid_matches_the_whitepaper_values() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.5) == -1.0


def test_no_windows_no_detections_scores_zero() -> None:
    row = score_file(_file(10, [], ()), 0.5)
    assert (row.score, row.tn, row.tp, row.fp, row.fn) == (0.0, 9, 0, 0, 0)  # floor(0.15 * 10) = 1 probationary row


def test_missed_window_costs_fn_weight_per_profile() -> None:
    f = _file(1000, [], ((500, 509),))
    assert score_file(f, 0.5, "standard").score == -1.0
    assert score_file(f, 0.5, "reward_low_FN_rate").score == -2.0


def test_only_the_first_detection_in_a_window_counts() -> None:
    first = score_file(_file(1000, [502], ((500, 509),)), 0.5).score
    both = score_file(_file(1000, [502, 505, 509], ((500, 509),)), 0.5)
    expected = _sigma(-(509 - 502 + 1) / 10) / _sigma(-1.0)
    assert first == pytest.approx(expected, rel=1e-12)
    assert both.score == pytest.approx(expected, rel=1e-12)
    assert (both.tp, both.fn) == (3, 7)
    assert score_file(_file(1000, [500], ((500, 509),)), 0.5).score == pytest.approx(1.0)


def test_false_positive_weights_before_and_after_windows() -> None:
    window = ((500, 509),)
    before = score_file(_file(1000, [300], window), 0.5, "standard").score
    assert before == pytest.approx(-1.0 - 0.11)  # missed window and a flat-weighted FP
    after = score_file(_file(1000, [512], window), 0.5, "reward_low_FP_rate").score
    assert after == pytest.approx(-1.0 + 0.22 * _sigma((512 - 509) / 9))
    far = score_file(_file(1000, [900], window), 0.5, "standard").score
    assert far == pytest.approx(-1.0 - 0.11)


def test_probationary_rows_are_ignored() -> None:
    # 15 % of 100 rows: a detection at row 14 is ignored, at row 15 it is a false positive
    assert score_file(_file(100, [14], ()), 0.5).score == 0.0
    assert score_file(_file(100, [15], ()), 0.5).score == pytest.approx(-0.11)


def test_threshold_optimisation_over_the_corpus() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 0.4, 1000)
    scores[505] = 0.9  # a true detection
    scores[700] = 0.95  # a false positive ranked above it
    f = NabFile("a.csv", scores, ((500, 509),))
    threshold, best = optimize_threshold([f])
    assert threshold == 0.9
    assert best == pytest.approx(_sigma(-5 / 10) / _sigma(-1.0) + 0.11 * _sigma((700 - 509) / 9))
    corpus = score_corpus([f], "standard")
    assert corpus.raw == pytest.approx(best)
    assert (corpus.null, corpus.perfect) == (-1.0, 1.0)
    assert corpus.normalized == pytest.approx(100 * (best + 1) / 2)


def test_bad_windows_are_rejected() -> None:
    with pytest.raises(InputError, match="outside"):
        score_file(_file(10, [], ((5, 12),)), 0.5)
    with pytest.raises(InputError, match="at least one file"):
        score_corpus([])


# Official NAB scores on the 40-file subset (nab_reference_results/MANIFEST.md): published thresholds, re-optimised.
OFFICIAL = {
    "numenta": ({"standard": 0.5422, "reward_low_FP_rate": 0.5752, "reward_low_FN_rate": 0.5422},
                (72.78, 64.87, 76.92), (72.78, 66.76, 76.92)),
    "windowedGaussian": ({"standard": 1.0, "reward_low_FP_rate": 1.0, "reward_low_FN_rate": 1.0},
                         (39.65, 18.10, 48.25), (39.65, 18.10, 48.36)),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("detector", sorted(OFFICIAL))
def test_reproduces_official_nab_scores(shared_data: Path, detector: str) -> None:
    files = read_nab_results(shared_data / "nab", shared_data / "nab_reference_results" / detector, detector)
    assert len(files) == 40
    published, with_published, reoptimised = OFFICIAL[detector]
    for thresholds, expected in ((published, with_published), (None, reoptimised)):
        result = nab_scores(files, thresholds)
        got = tuple(round(result[p].normalized, 2) for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"))
        assert got == expected
        assert [result[p].null for p in result] == [-81.0, -81.0, -162.0]
        assert all(result[p].perfect == 81.0 for p in result)


def _naive_file_score(scores: np.ndarray, windows: list[tuple[int, int]], threshold: float, tp: float, fp: float,
                      fn: float) -> float:
    """NAB's rules row by row, written independently of the vectorised scorer."""
    n = len(scores)
    probation = min(math.floor(0.15 * n), 0.15 * 5000)
    total = 0.0
    for a, b in windows:
        width = b - a + 1
        hits = [i for i in range(a, b + 1) if i >= probation and scores[i] >= threshold]
        if any(i >= probation for i in range(a, b + 1)):
            total += tp * _sigma(-(b - hits[0] + 1) / width) / _sigma(-1.0) if hits else -fn
    for i in range(n):
        if i < probation or scores[i] < threshold or any(a <= i <= b for a, b in windows):
            continue
        before = [(a, b) for a, b in windows if b < i]
        if not before:
            total -= fp
        else:
            a, b = before[-1]
            total += fp * _sigma(abs(i - b) / (b - a))
    return total


def test_vectorised_sweep_agrees_with_a_row_by_row_scorer() -> None:
    rng = np.random.default_rng(11)
    files = []
    for k in range(6):
        n = int(rng.integers(60, 200))
        scores = np.round(rng.uniform(0, 1, n), 1)  # many ties
        starts = sorted(rng.choice(np.arange(2, n - 12), size=int(rng.integers(0, 3)), replace=False).tolist())
        windows, last = [], -1
        for s in starts:
            if s > last + 1:
                end = min(s + int(rng.integers(1, 10)), n - 1)
                windows.append((s, end))
                last = end
        files.append(NabFile(f"f{k}.csv", scores, tuple(windows)))
    for name in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        cost = {"standard": (1, 0.11, 1), "reward_low_FP_rate": (1, 0.22, 1), "reward_low_FN_rate": (1, 0.11, 2)}[name]
        best_t, best = optimize_threshold(files, name)
        candidates = sorted({1.1, *np.concatenate([f.scores for f in files]).tolist()}, reverse=True)
        naive = {t: sum(_naive_file_score(f.scores, list(f.windows), t, *cost) for f in files) for t in candidates}
        assert best == pytest.approx(max(naive.values()), abs=1e-9)
        assert naive[best_t] == pytest.approx(best, abs=1e-9)
        for f in files:
            for t in (0.3, 0.55, 0.9):
                assert score_file(f, t, name).score == pytest.approx(
                    _naive_file_score(f.scores, list(f.windows), t, *cost), abs=1e-9)
