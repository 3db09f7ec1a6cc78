"""Does feedback help the local expert? Image AUROC 1-shot versus 1-shot plus normals confirmed through feedback.

For each seed, the category's normal images (its ``good`` folder only; no other label is looked at to choose) are
shuffled: the first is the 1-shot reference, the next ``--confirm`` are shown to a simulated inspector, and the rest
are scored with every anomalous image. The inspector sees each confirmed image's 1-shot report and marks it right
(if it said normal) or wrong (if it said anomalous) in a fresh :class:`~genad._feedback.FeedbackStore`; a
``Detector(mode="local", feedback=store)`` then scores the same items, so the confirmed normals join the memory
bank. Confirmed images are never scored, and both conditions score the same items.

    python benchmarks/feedback_effect.py /path/to/shared/data/elpv --confirm 5 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from genad import Detector, FeedbackStore
from genad.eval._datasets import read_dataset
from genad.metrics import auroc


def run_seed(items: list, category: str, confirm: int, seed: int) -> dict[str, float]:
    goods = [it for it in items if it.label == 0]
    bad = [it for it in items if it.label == 1]
    order = np.random.default_rng(seed).permutation(len(goods))
    reference = goods[order[0]].sample
    confirmed = [goods[i].sample for i in order[1:1 + confirm]]
    scored = [goods[i] for i in order[1 + confirm:]] + bad
    labels = [it.label for it in scored]
    paths = [it.sample for it in scored]

    one_shot = Detector(mode="local")
    base = one_shot.detect_many(paths, references=[reference], category=category, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        store = FeedbackStore(Path(tmp) / "feedback.sqlite")
        wrong = 0
        for path in confirmed:
            report = one_shot.detect(path, references=[reference], category=category)
            store.mark(report, correct=not report.is_anomalous, category=category)
            wrong += bool(report.is_anomalous)
        with_feedback = Detector(mode="local", feedback=store).detect_many(
            paths, references=[reference], category=category, progress=False)
    return {
        "auroc_1shot": auroc(labels, [float(r.score or 0.0) for r in base]),
        "auroc_feedback": auroc(labels, [float(r.score or 0.0) for r in with_feedback]),
        "false_alarms_marked_wrong": float(wrong),
        "n_good": float(labels.count(0)),
        "n_bad": float(labels.count(1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="an MVTec-layout dataset folder")
    parser.add_argument("--category", help="default: the only (or first) category")
    parser.add_argument("--confirm", type=int, default=5, help="normals confirmed through feedback (default 5)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    dataset = read_dataset(args.data_dir, "mvtec", args.category)
    category = args.category or dataset.categories[0]
    items = dataset.category(category)
    start = time.perf_counter()
    rows = []
    print(f"{args.data_dir} · {category} · 1 reference + {args.confirm} confirmed normals")
    print("seed  scored(good/bad)  marked-wrong  AUROC 1-shot  AUROC +feedback  change")
    for seed in args.seeds:
        r = run_seed(items, category, args.confirm, seed)
        rows.append(r)
        print(f"{seed:>4}  {int(r['n_good']):>6}/{int(r['n_bad']):<9}  {int(r['false_alarms_marked_wrong']):>12}  "
              f"{r['auroc_1shot']:>12.3f}  {r['auroc_feedback']:>15.3f}  {r['auroc_feedback'] - r['auroc_1shot']:+.3f}")
    base = np.array([r["auroc_1shot"] for r in rows])
    fed = np.array([r["auroc_feedback"] for r in rows])
    print(f"mean  {'':>16}  {'':>12}  {base.mean():>12.3f}  {fed.mean():>15.3f}  {(fed - base).mean():+.3f}"
          f"  (std of change {np.std(fed - base):.3f}; better in {int((fed > base).sum())}/{len(rows)} seeds)")
    print(f"{time.perf_counter() - start:.0f} s wall, measured on a shared 2-core machine under load")


if __name__ == "__main__":
    main()
