"""The code-drawn demo set and the offline demo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from genad.errors import InputError
from genad.synthetic import CATEGORIES, DEFECTS, make_image, make_set, write_set


def test_same_seed_same_image_other_seed_other_image() -> None:
    a, b = make_image("weave", "hole", seed=4), make_image("weave", "hole", seed=4)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, make_image("weave", "hole", seed=5).image)


@pytest.mark.parametrize(("category", "defect"), [(c, d) for c in CATEGORIES for d in DEFECTS[c]])
def test_defects_change_the_image_inside_their_mask(category: str, defect: str) -> None:
    item = make_image(category, defect, seed=11)
    normal = make_image(category, None, seed=11)
    assert item.image.shape == (256, 256, 3) and item.image.dtype == np.uint8
    assert 50 < item.mask.sum() < 0.2 * item.mask.size
    diff = np.abs(item.image.astype(int) - normal.image.astype(int)).sum(axis=2) > 30
    assert diff[item.mask].mean() > 0.3
    assert diff[~item.mask].mean() < 0.02


def test_normal_images_vary_slightly_and_have_empty_masks() -> None:
    a, b = make_image("washer", None, seed=1), make_image("washer", None, seed=2)
    assert not a.mask.any()
    assert 0 < np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 40


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        make_image("teapot")
    with pytest.raises(InputError):
        make_image("weave", "missing_part")
    with pytest.raises(InputError):
        make_image("weave", size=16)


def test_write_set_uses_the_mvtec_layout(tmp_path: Path) -> None:
    root = write_set(tmp_path / "demo", n_good=2, n_per_defect=1, size=96)
    assert sorted(p.name for p in (root / "weave" / "good").iterdir()) == ["000.png", "001.png"]
    for category in CATEGORIES:
        for defect in DEFECTS[category]:
            image = cv2.imread(str(root / category / defect / "000.png"))
            mask = cv2.imread(str(root / category / "ground_truth" / defect / "000_mask.png"), cv2.IMREAD_GRAYSCALE)
            assert image is not None and mask is not None
            assert image.shape == (96, 96, 3)
            assert set(np.unique(mask)) == {0, 255}
    assert len(make_set(n_good=2, n_per_defect=1)) == 2 * (2 + 3)


def test_demo_writes_overlays_and_finds_the_defects(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from genad._demo import run_demo

    reports = run_demo(tmp_path)
    assert len(reports) == 2 * (2 + 3)
    assert {p.name for p in tmp_path.glob("*.png")} == {f"{Path(str(r.source)).name}.png" for r in reports}
    assert all(r.mode == "local" and r.anomaly_map is not None for r in reports)
    for category in CATEGORIES:
        mine = [r for r in reports if str(r.source).startswith(category)]
        defective = [r.score or 0.0 for r in mine if "good" not in str(r.source)]
        normal = [r.score or 0.0 for r in mine if "good" in str(r.source)]
        assert min(defective) > max(normal)
        assert max(normal) < 0.5 <= min(defective)
