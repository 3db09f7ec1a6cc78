"""Ways to join the references and the batch, compared on every labelled image set (1-shot, seeds 0-4).

The image expert's ``batch_context`` (docs/image-expert.md, method step 7) scores each image of a ``score_many``
call with references twice: against the reference bank (calibrated on jittered copies of a single reference, or
leave-one-out on several) and by mutual scoring against the other images and the references (calibrated on the
batch's pixels). This script
computes, with the expert's default settings otherwise, the mean image AUROC and verdict accuracy (``score >=
0.5``) over the 13 image sets of ``benchmarks/image_quality.py`` for these ways of turning the two into one score:

- ``reference``: the reference map alone (``batch_context=False``);
- ``batch``: the mutual map alone, the reference one image of the batch;
- ``mean of scores``: the mean of the two calibrated scores;
- ``peak of mean map``: the peak of the mean of the two calibrated maps;
- ``peak of weighted mean map``: the same with the batch's map weighted ``1 / (k + 1)`` for ``k`` references, as
  one reference more (what the expert does; with one reference the same as the mean);
- ``peak, reference on batch calibration``: the peak of the mean map, with the reference map calibrated on the
  batch's pixels (as zero-shot maps are) instead of on the references.

All of them are in-sample figures (no choice is made here; the grid in ``image_quality.py`` scores the expert's
choice out of sample). ``--shots K`` draws K references instead of one: what the batch adds to few-shot
scoring. Run: ``python benchmarks/image_batch_variants.py [--shots K]`` (a few minutes;
reads ``../shared/data`` or ``$GENAD_SHARED_DATA``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import numpy as np
from image_quality import CONFIGS, DATA, PIXEL_ONLY, SEEDS, SETS

from genad import metrics
from genad.eval._datasets import read_dataset
from genad.eval._runner import select_references
from genad.modalities.image import ImageExpert
from genad.modalities.image._expert import _as_image, _batch_calibration, _Calibration, _sigmoid

Join = Callable[[list[np.ndarray], _Calibration, list[np.ndarray], _Calibration, int], np.ndarray]


def _calibrated(maps: list[np.ndarray], cal: _Calibration) -> list[np.ndarray]:
    return [_sigmoid((m - cal.threshold) / cal.spread) for m in maps]


def _peak_of_mean(ref: list[np.ndarray], ref_cal: _Calibration, mutual: list[np.ndarray],
                  mutual_cal: _Calibration, weight: float = 0.5) -> np.ndarray:
    """The peak of each image's mean of the two calibrated maps, the batch's weighted ``weight``."""
    return np.array([((1 - weight) * a + weight * b).max()
                     for a, b in zip(_calibrated(ref, ref_cal), _calibrated(mutual, mutual_cal), strict=True)])


#: join -> rule(reference maps, their calibration, mutual maps, the batch's calibration, references)
JOINS: dict[str, Join] = {
    "reference": lambda r, rc, m, mc, k: np.array([x.max() for x in _calibrated(r, rc)]),
    "batch": lambda r, rc, m, mc, k: np.array([x.max() for x in _calibrated(m, mc)]),
    "mean of scores": lambda r, rc, m, mc, k: (np.array([x.max() for x in _calibrated(r, rc)])
                                               + np.array([x.max() for x in _calibrated(m, mc)])) / 2,
    "peak of mean map": lambda r, rc, m, mc, k: _peak_of_mean(r, rc, m, mc),
    "peak of weighted mean map": lambda r, rc, m, mc, k: _peak_of_mean(r, rc, m, mc, 1 / (k + 1)),
    "peak, reference on batch calibration": lambda r, rc, m, mc, k: _peak_of_mean(r, _batch_calibration(r), m, mc),
}


def set_figures(name: str, shots: int = 1) -> dict[str, tuple[float, float]]:
    """Per join, the mean over the seeds of the image AUROC and the verdict accuracy on one set."""
    items = read_dataset(DATA / SETS[name]).items
    expert = ImageExpert(threads=1, **CONFIGS["v0.D-224sq-turn3-batch"])
    found: dict[str, list[tuple[float, float]]] = {j: [] for j in JOINS}
    for seed in SEEDS:
        refs, scored = select_references(items, shots, seed)
        reference = [_as_image(r.sample) for r in refs]
        images = [_as_image(it.sample) for it in scored]
        labels = np.array([it.label for it in scored])
        # the expert's own steps (private: this script probes its internals)
        bank = expert._reference_bank(reference)
        ref_maps = [expert._reference_map(img, bank) for img in images]
        mutual = expert._mutual_maps([*images, *reference], bank.frame)  # the references join the batch
        mutual_cal = _batch_calibration(mutual)
        for join, rule in JOINS.items():
            scores = rule(ref_maps, bank.calibration, mutual[:len(images)], mutual_cal, len(reference))
            found[join].append((metrics.auroc(labels, scores), float(np.mean((scores >= 0.5) == labels))))
    return {j: (float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))) for j, v in found.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=[s for s in SETS if s not in PIXEL_ONLY],
                        choices=[s for s in SETS if s not in PIXEL_ONLY])
    parser.add_argument("--shots", type=int, default=1, help="references drawn per seed (default 1)")
    args = parser.parse_args(argv)
    if not (DATA / "MANIFEST.md").is_file():
        print(f"shared data not found at {DATA}; set GENAD_SHARED_DATA", file=sys.stderr)
        return 2
    table = {}
    for name in args.sets:
        table[name] = set_figures(name, args.shots)
        print(f"{name}: " + ", ".join(f"{j} {a:.3f} / {b:.3f}" for j, (a, b) in table[name].items()),
              file=sys.stderr, flush=True)
    print(f"{args.shots} reference(s), seeds {SEEDS[0]}-{SEEDS[-1]}, {len(table)} sets")
    print("| join | mean image AUROC | verdict accuracy |\n|---|---|---|")
    for join in JOINS:
        auroc = np.mean([table[s][join][0] for s in table])
        accuracy = np.mean([table[s][join][1] for s in table])
        print(f"| {join} | {auroc:.3f} | {accuracy:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
