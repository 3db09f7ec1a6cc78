"""``benchmarks/image_quality.py``'s all-good protocol: each fold scores one normal item and every anomalous item
against the other normal items, as one batch for an expert that scores such batches jointly."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from genad import ExpertResult
from genad.eval._datasets import EvalItem

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
pytest.importorskip("onnxruntime", reason='the image benchmark needs the image extra: pip install -e ".[image]"')


def _image_quality() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling _confidence
    try:
        spec = importlib.util.spec_from_file_location("image_quality_under_test", BENCHMARKS / "image_quality.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


class RecordingExpert:
    """Scores a sample by its number; records every call as (samples, references)."""

    def __init__(self, joint: bool) -> None:
        self.joint = joint
        self.calls: list[tuple[list[Any], list[Any]]] = []

    def joint_scoring(self, references: int) -> bool:
        return self.joint

    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        return self.score_many([sample], references)[0]

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        self.calls.append((list(samples), list(references)))
        return [ExpertResult(score=s / 100, raw_score=float(s)) for s in samples]


def _items(good: int, bad: int) -> list[EvalItem]:
    return ([EvalItem(name=f"g{i}", sample=i, label=0, category="c", modality="image") for i in range(good)]
            + [EvalItem(name=f"b{i}", sample=50 + i, label=1, category="c", modality="image") for i in range(bad)])


@pytest.mark.parametrize("joint", [True, False])
def test_each_fold_leaves_one_normal_item_out(joint: bool) -> None:
    module = _image_quality()
    expert = RecordingExpert(joint)
    folds = module.all_good_folds(expert, _items(3, 2), batch=True)
    assert [f["names"] for f in folds] == [[f"g{i}", "b0", "b1"] for i in range(3)]
    assert all(f["labels"] == [0, 1, 1] for f in folds)
    assert [f["scores"] for f in folds] == [[i / 100, 0.5, 0.51] for i in range(3)]
    if joint:  # one batch per fold, against the other normal items
        assert expert.calls == [([i, 50, 51], [j for j in range(3) if j != i]) for i in range(3)]
    else:  # each query alone
        assert expert.calls == [([q], [j for j in range(3) if j != i]) for i in range(3) for q in (i, 50, 51)]
    expert.calls.clear()
    module.all_good_folds(expert, _items(3, 2), batch=False)  # "all-alone": never a batch
    assert all(len(samples) == 1 for samples, _ in expert.calls)


def test_large_sets_leave_out_at_most_ten_normal_items_spread_evenly() -> None:
    module = _image_quality()
    folds = module.all_good_folds(RecordingExpert(True), _items(25, 2), batch=True)
    held = [f["names"][0] for f in folds]
    assert len(held) == module.ALL_GOOD_FOLDS == 10
    assert held[0] == "g0" and held[-1] == "g24" and len(set(held)) == 10
    assert module.all_good_folds(RecordingExpert(True), _items(1, 2), batch=True) == []  # no other normal item


def test_verdicts_of_the_folds_count_each_item_once_with_the_sets_share_of_normals() -> None:
    module = _image_quality()
    folds = module.all_good_folds(RecordingExpert(True), _items(3, 6), batch=True)
    once = module._each_once(folds, 3 / 9)
    assert sorted(once) == sorted([(0, i / 100) for i in range(3)] + [(1, (50 + j) / 100) for j in range(6)])
    many = module.all_good_folds(RecordingExpert(True), _items(25, 4), batch=True)  # 10 folds of 25 normals
    once = module._each_once(many, 25 / 29)
    assert [y for y, _ in once].count(0) == 10 and [y for y, _ in once].count(1) == 2  # 10 * 4 / 25, rounded
