"""``genad eval --shots 0``: each category is one zero-shot batch, scored as the benchmarks score it; with
references, a category is one batch when the expert scores such batches jointly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genad import Detector, ExpertResult
from genad.eval import Runner, read_dataset
from genad.modalities.image import ImageSample
from genad.synthetic import write_set


class PeerExpert:
    """Scores an image by how far its mean brightness is from its batch's median (alone: from 128)."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def score(self, sample: ImageSample, references: Sequence[ImageSample] = ()) -> ExpertResult:
        return self.score_many([sample], references)[0]

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        self.batches.append(len(samples))
        means = np.array([s.pixels.mean() for s in samples])
        centre = float(np.median(means)) if len(samples) > 1 else 128.0
        return [ExpertResult(score=float(min(1.0, abs(m - centre) / 50)), raw_score=float(m)) for m in means]


def test_zero_shot_categories_are_scored_as_batches_and_alone_on_request(tmp_path: Path) -> None:
    dataset = read_dataset(write_set(tmp_path / "data", n_good=3, n_per_defect=1))
    sizes = {c: len(dataset.category(c)) for c in dataset.categories}
    expert = PeerExpert()
    detector = Detector(mode="local", experts={"image": expert})
    batch = Runner(detector, shots=0, progress=False).run(dataset)
    assert sorted(expert.batches) == sorted(sizes.values())
    expected = {}
    for category in dataset.categories:
        items = dataset.category(category)
        reports = Detector(mode="local", experts={"image": PeerExpert()}).detect_many(
            [it.sample for it in items], progress=False)
        expected.update({it.name: r.score for it, r in zip(items, reports, strict=True)})
    assert {r.item.name: r.report.score for r in batch} == expected
    expert.batches.clear()
    alone = Runner(detector, shots=0, zero_shot="alone", progress=False).run(dataset)
    assert expert.batches == [1] * len(dataset)
    assert [r.item.name for r in alone] == [r.item.name for r in batch]
    assert [r.report.score for r in alone] != [r.report.score for r in batch]


def test_a_batch_resumes_whole(tmp_path: Path) -> None:
    dataset = read_dataset(write_set(tmp_path / "data", n_good=3, n_per_defect=1))
    cache = tmp_path / "cache"
    first = Runner(Detector(mode="local", experts={"image": PeerExpert()}), shots=0, cache_dir=cache,
                   progress=False).run(dataset)
    expert = PeerExpert()
    again = Runner(Detector(mode="local", experts={"image": expert}), shots=0, cache_dir=cache,
                   progress=False).run(dataset)
    assert expert.batches == [] and all(r.cached for r in again)
    assert [r.report.score for r in again] == [r.report.score for r in first]


class JointPeerExpert(PeerExpert):
    """:class:`PeerExpert` that also scores batches with one reference jointly (the reference joins the batch), but
    not with two, so that both ways are seen."""

    def joint_scoring(self, references: int) -> bool:
        return references <= 1

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        return super().score_many([*samples, *references], ())[:len(samples)]


def test_a_one_shot_category_is_one_batch_when_the_expert_scores_it_jointly(tmp_path: Path) -> None:
    dataset = read_dataset(write_set(tmp_path / "data", n_good=3, n_per_defect=1))
    sizes = {c: len(dataset.category(c)) - 1 for c in dataset.categories}  # one good image is the reference
    expert = JointPeerExpert()
    records = Runner(Detector(mode="local", experts={"image": expert}), shots=1, progress=False).run(dataset)
    assert sorted(expert.batches) == sorted(n + 1 for n in sizes.values())
    assert len(records) == sum(sizes.values()) and all(r.report.ok for r in records)
    assert all(len(r.references) == 1 for r in records)
    plain = PeerExpert()  # no joint_scoring: each sample with its reference, alone
    Runner(Detector(mode="local", experts={"image": plain}), shots=1, progress=False).run(dataset)
    assert plain.batches == [1] * sum(sizes.values())
    expert.batches.clear()
    alone = Runner(Detector(mode="local", experts={"image": expert}), shots=1, zero_shot="alone",
                   progress=False).run(dataset)
    assert len(expert.batches) == sum(sizes.values())  # one call per sample
    assert [r.report.score for r in alone] != [r.report.score for r in records]
    expert.batches.clear()
    Runner(Detector(mode="local", experts={"image": expert}), shots=2, progress=False).run(dataset)
    assert len(expert.batches) == len(dataset) - 2 * len(dataset.categories)
