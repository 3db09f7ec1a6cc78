"""Metrics against hand-computed values and brute-force reference computations; summaries with failed samples
and bootstrap intervals."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from genad import AnomalyReport
from genad.errors import InputError, ParseError
from genad.eval._bootstrap import resample_metrics
from genad.eval._datasets import Dataset, EvalItem
from genad.eval._runner import EvalRecord, summarize
from genad.metrics import (
    aupro,
    auroc,
    auroc_ci,
    average_precision,
    f1_max,
    frame_auroc,
    pixel_auroc,
    point_auroc,
    range_precision_recall_f1,
    ranges_from_binary,
)


def test_image_level_metrics_on_a_small_case() -> None:
    labels = [0, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8]
    assert auroc(labels, scores) == pytest.approx(0.75)
    # ranking 0.8(+) 0.4(-) 0.35(+) 0.1(-): AP = (1/1 + 2/3) / 2
    assert average_precision(labels, scores) == pytest.approx((1 + 2 / 3) / 2)
    # best F1: threshold 0.35 gives P = 2/3, R = 1
    assert f1_max(labels, scores) == pytest.approx(0.8)


def test_single_class_is_nan_and_shape_errors_raise() -> None:
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))
    assert math.isnan(f1_max([0, 0], [0.2, 0.3]))
    with pytest.raises(InputError, match="shape"):
        auroc([0, 1], [0.1])
    with pytest.raises(InputError, match="NaN"):
        auroc([0, 1], [0.1, float("nan")])


def _brute_aupro(masks: list[np.ndarray], maps: list[np.ndarray], max_fpr: float = 0.3) -> float:
    """Threshold-by-threshold PRO/FPR curve, integrated with interpolation at max_fpr."""
    comps = []
    for m in masks:
        lab, n = ndimage.label(m, structure=np.ones((3, 3)))
        comps.append((lab, n))
    normal = np.concatenate([(m == 0).ravel() for m in masks])
    all_scores = np.concatenate([a.ravel() for a in maps])
    points = [(0.0, 0.0)]
    for t in np.unique(all_scores)[::-1]:
        fpr = float((all_scores[normal] >= t).mean())
        overlaps = [float((a[lab == k] >= t).mean()) for (lab, n), a in zip(comps, maps, strict=True)
                    for k in range(1, n + 1)]
        points.append((fpr, float(np.mean(overlaps))))
    fprs, pros = np.array(points).T
    xs = np.append(fprs[fprs <= max_fpr], max_fpr)
    ys = np.append(pros[fprs <= max_fpr], np.interp(max_fpr, fprs, pros))
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / max_fpr)


def test_aupro_matches_a_brute_force_curve() -> None:
    rng = np.random.default_rng(3)
    masks, maps = [], []
    for k in range(4):
        m = np.zeros((12, 12), bool)
        if k:
            m[2:5, 2:6] = True
            m[8:11, 9:11] = k > 1
        masks.append(m)
        maps.append(np.round(rng.uniform(0, 1, (12, 12)) + 0.6 * m, 2))
    assert aupro(masks, maps) == pytest.approx(_brute_aupro(masks, maps), abs=1e-9)


def test_aupro_perfect_and_inverted_maps() -> None:
    m = np.zeros((10, 10), bool)
    m[3:6, 3:6] = True
    assert aupro([m], [m.astype(float)]) == pytest.approx(1.0)
    assert aupro([m], [(~m).astype(float)]) == pytest.approx(0.0)
    assert math.isnan(aupro([np.zeros((4, 4), bool)], [np.zeros((4, 4))]))


def test_pooled_pixel_frame_and_point_auroc() -> None:
    masks = [np.array([[0, 1], [0, 0]]), np.zeros((2, 2))]
    maps = [np.array([[0.1, 0.9], [0.2, 0.3]]), np.array([[0.0, 0.95], [0.1, 0.2]])]
    # the positive pixel (0.9) is beaten only by the normal 0.95: 6 of 7 pairs correct
    assert pixel_auroc(masks, maps) == pytest.approx(6 / 7)
    assert frame_auroc([np.array([0, 1, 1])], [np.array([0.1, 0.5, 0.7])]) == 1.0
    assert point_auroc([np.array([1, 0]), np.array([0])], [np.array([0.2, 0.9]), np.array([0.1])]) == 0.5
    with pytest.raises(InputError, match="differ in shape"):
        pixel_auroc([np.zeros((2, 2))], [np.zeros((3, 3))])


def test_range_based_scores_without_point_adjustment() -> None:
    truth = [(10, 19), (40, 49)]
    predicted = [(15, 24), (70, 71)]
    precision, recall, f1 = range_precision_recall_f1(truth, predicted, 100)
    # recall: first range half covered, second missed; precision: first prediction half inside, second outside
    assert (precision, recall) == (pytest.approx(0.25), pytest.approx(0.25))
    assert f1 == pytest.approx(0.25)
    _, recall_existence, _ = range_precision_recall_f1(truth, predicted, 100, alpha=1.0)
    assert recall_existence == pytest.approx(0.5)
    # a single point inside a long range is not adjusted to a full detection
    _, recall_point, _ = range_precision_recall_f1([(0, 99)], [(50, 50)], 100)
    assert recall_point == pytest.approx(0.01)
    assert range_precision_recall_f1(truth, [], 100)[2] == 0.0
    assert ranges_from_binary([0, 1, 1, 0, 1]) == [(1, 2), (4, 4)]
    with pytest.raises(InputError, match="outside"):
        range_precision_recall_f1([(5, 200)], [], 100)


# ---------------------------------------------------------------- summaries: failed samples and intervals


def _records(scores: dict[str, list[float]], category: str = "part") -> list[EvalRecord]:
    """Image records without files or masks: ``{"good": [...], "bad": [...]}`` scores; NaN means failed."""
    out = []
    for kind, values in scores.items():
        for i, score in enumerate(values):
            label = int(kind != "good")
            item = EvalItem(f"{category}/{kind}/{i:03d}.png", f"{category}_{kind}_{i}.png", label, category, "image",
                            kind)
            if math.isnan(score):
                report = AnomalyReport.failed(ParseError("no verdict in the reply"), modality="image")
            else:
                report = AnomalyReport(score >= 0.5, score, modality="image")
            out.append(EvalRecord(item, report))
    return out


def _summary(records: list[EvalRecord], **kwargs: Any) -> dict[str, Any]:
    return summarize(Dataset(Path("data"), "mvtec", [r.item for r in records]), records, mode="vlm", shots=0,
                     **kwargs)


def test_failed_samples_count_as_wrong_answers_or_are_left_out() -> None:
    records = _records({"good": [0.1, 0.2, 0.3, 0.15], "bad": [0.9, 0.8, float("nan"), 0.7]})
    wrong = _summary(records)
    block = wrong["categories"]["part"]
    assert (block["n"], block["errors"], block["errors_as"]) == (8, 1, "wrong")
    # the failed anomalous sample ranks below every normal one: 3 of 4 anomalies are ranked right
    assert block["image_auroc"] == pytest.approx(0.75)
    assert wrong["errors_as"] == "wrong"
    assert wrong["failures"] == [{"error_type": "ParseError", "count": 1,
                                  "example": "part/bad/002.png: no verdict in the reply"}]
    skipped = _summary(records, errors="skip")
    assert skipped["categories"]["part"]["image_auroc"] == 1.0
    assert skipped["categories"]["part"]["errors_as"] == "skip"
    # a failed normal sample counts as a false alarm with the highest score
    normal_failed = _summary(_records({"good": [0.1, float("nan")], "bad": [0.9, 0.8]}))
    assert normal_failed["categories"]["part"]["image_auroc"] == pytest.approx(0.5)
    with pytest.raises(InputError, match="errors"):
        _summary(records, errors="ignore")


def test_intervals_contain_the_value_are_seeded_and_match_a_scipy_bootstrap() -> None:
    rng = np.random.default_rng(1)
    records = _records({"good": rng.uniform(0, 0.7, 30).tolist(), "bad": rng.uniform(0.3, 1, 30).tolist()})
    summary = _summary(records)
    block = summary["categories"]["part"]
    for key in ("image_auroc", "image_ap", "f1_max"):
        lo, hi = block["ci"][key]
        assert lo < block[key] < hi
    assert summary["mean_ci"]["image_auroc"] == block["ci"]["image_auroc"]  # one category: the same resamples
    assert _summary(records) == summary
    labels = [r.item.label for r in records]
    scores = [r.report.score for r in records]
    assert all(s is not None for s in scores)
    reference = auroc_ci(labels, [s for s in scores if s is not None], n_resamples=2000)
    assert block["ci"]["image_auroc"] == pytest.approx(reference, abs=0.03)
    assert "ci" not in _summary(records, ci_resamples=0)["categories"]["part"]


def test_interval_of_the_mean_resamples_each_category() -> None:
    rng = np.random.default_rng(2)
    records = (_records({"good": rng.uniform(0, 0.8, 12).tolist(), "bad": rng.uniform(0.2, 1, 12).tolist()}, "a")
               + _records({"good": [0.1, 0.2, 0.3], "bad": [0.7, 0.8, 0.9]}, "b"))
    summary = _summary(records)
    assert summary["categories"]["b"]["ci"]["image_auroc"] == [1.0, 1.0]  # perfectly separated in every resample
    a_lo, a_hi = summary["categories"]["a"]["ci"]["image_auroc"]
    lo, hi = summary["mean_ci"]["image_auroc"]
    assert (lo, hi) == pytest.approx(((a_lo + 1) / 2, (a_hi + 1) / 2), abs=0.02)
    assert lo < summary["mean"]["image_auroc"] < hi


def test_table_prints_values_with_their_intervals() -> None:
    from genad.eval._cli import format_failures, format_table

    records = _records({"good": [0.1, 0.6, 0.3, 0.2, 0.4], "bad": [0.9, 0.35, float("nan"), 0.7, 0.8]})
    summary = _summary(records)
    value, (lo, hi) = summary["mean"]["image_auroc"], summary["mean_ci"]["image_auroc"]
    table = format_table(summary)
    assert f"{value:.3f} [{lo:.2f}, {hi:.2f}]" in table
    lines = format_failures(summary)
    assert lines[0].startswith("1 sample(s) failed; failed samples count as wrong answers")
    assert lines[1] == "  ParseError × 1, e.g. part/bad/002.png: no verdict in the reply"


def test_slow_metrics_get_an_interval_only_within_the_time_budget() -> None:
    records = _records({"good": [0.1, 0.4, 0.3, 0.2], "bad": [0.9, 0.35, 0.7, 0.8]})
    records = [EvalRecord(replace(r.item, mask="m.png"), r.report) for r in records]
    calls = {"light": 0, "full": 0}

    def hook(recs: Any) -> dict[str, float]:
        full = any(r.item.mask is not None for r in recs)
        calls["full" if full else "light"] += 1
        out = {"sample": auroc([r.item.label for r in recs], [r.report.score for r in recs])}
        if full:
            out["dense"] = float(np.mean([r.report.score for r in recs]))  # stands for a pixel metric
        return out

    point = hook(records)
    fast = resample_metrics(hook, records, point, point_seconds=0.001, n_resamples=50)
    assert set(fast.values) == {"sample", "dense"}
    assert fast.skipped == []
    assert calls["full"] == 1 + 50  # the dense metric needed the full records on every resample
    slow = resample_metrics(hook, records, point, point_seconds=1.0, n_resamples=50, budget_s=20)
    assert set(slow.values) == {"sample"}
    assert slow.skipped == ["dense"]
    assert calls["full"] == 51  # the sample-level metric was resampled on light records only
    assert fast.interval("sample") == slow.interval("sample")
