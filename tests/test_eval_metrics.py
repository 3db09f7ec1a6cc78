"""Metrics against hand-computed values and brute-force reference computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from genad.errors import InputError
from genad.metrics import (
    aupro,
    auroc,
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
