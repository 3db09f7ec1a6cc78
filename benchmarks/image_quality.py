"""Image AUROC of the local image expert on ../shared/data (a stand-in until ``genad eval`` lands).

For each set: 1-shot (the first good image in sorted order is the reference; the other images are scored),
zero-shot (all images scored against each other in one batch), all good images as references (anomalous
images against all good ones, each good one against the others: leave-one-out), pixel AUROC of the 1-shot maps
where masks exist, and the accuracy of the calibrated verdict (``score >= 0.5``) in each mode.

    python benchmarks/image_quality.py                      # the six sets of the issue's table
    python benchmarks/image_quality.py --sets extra   # LOCO juice bottle, DeepPCB, head CT, brain MRI, chest X-ray
    python benchmarks/image_quality.py --sets bottle screw --modes one zero
    python benchmarks/image_quality.py --expert resolution=256 augment=none
    python benchmarks/image_quality.py --sets magnetic_tile --modes one --by-defect   # pixel AUROC per defect type
    python benchmarks/image_quality.py --modes one --reference-choices 5   # 1-shot with each of 5 references

Writes a Markdown table to stdout (and JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from sklearn.metrics import roc_auc_score

from genad.modalities.image import ImageExpert, ImageSample

DATA = Path(os.environ.get("GENAD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
MAIN = {
    "bottle": "mvtec_ad/bottle", "screw": "mvtec_ad/screw", "tire": "mvtec_3d_ad_rgb/tire",
    "cookies": "lookout_cookies/cookie", "magnetic_tile": "magnetic_tile/magnetic_tile", "elpv": "elpv/solar_cell",
}
EXTRA = {
    "juice_bottle": "mvtec_loco/juice_bottle", "deeppcb": "deeppcb/pcb", "head_ct": "head_ct/head_ct",
    "brain_mri": "brain_mri/brain_mri", "chest_xray": "pneumonia_mnist/chest_xray",
}
SKIP_DIRS = {"ground_truth", "annotations"}
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
PIXEL_SIDE = 128  # maps and masks are compared at this size


@dataclass
class Item:
    path: Path
    label: int
    mask: Path | None = None


@dataclass
class Row:
    name: str
    scores: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0


def load_set(root: Path) -> list[Item]:
    items = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in SKIP_DIRS):
        label = 0 if sub.name == "good" else 1
        for f in sorted(sub.iterdir()):
            if f.suffix.lower() in SUFFIXES:
                mask = root / "ground_truth" / sub.name / f"{f.stem}_mask.png"
                items.append(Item(f, label, mask if mask.is_file() else None))
    return items


def auroc(labels: list[int], scores: list[float]) -> float | None:
    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None


def accuracy(labels: list[int], scores: list[float]) -> float:
    return float(np.mean([(s >= 0.5) == bool(y) for y, s in zip(labels, scores, strict=True)]))


@lru_cache(maxsize=4096)
def mask_at_side(path: Path) -> np.ndarray:
    """The ground-truth mask at ``path`` as a boolean ``PIXEL_SIDE`` x ``PIXEL_SIDE`` array (read once per run)."""
    raw = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(raw, (PIXEL_SIDE, PIXEL_SIDE), interpolation=cv2.INTER_NEAREST) > 127


def pixel_auroc(items: list[Item], maps: list[np.ndarray]) -> float | None:
    if not any(it.mask is not None for it in items):
        return None
    truth, pred = [], []
    for it, m in zip(items, maps, strict=True):
        if it.label and it.mask is None:
            continue
        gt = mask_at_side(it.mask) if it.mask is not None else np.zeros((PIXEL_SIDE, PIXEL_SIDE), bool)
        truth.append(gt.ravel())
        pred.append(cv2.resize(m.astype(np.float32), (PIXEL_SIDE, PIXEL_SIDE), interpolation=cv2.INTER_AREA).ravel())
    return float(roc_auc_score(np.concatenate(truth), np.concatenate(pred)))


def by_defect(items: list[Item], maps: list[np.ndarray]) -> dict[str, float | None]:
    """Pixel AUROC of each defect type's images together with the good ones, of the set without that type, and
    the type's share of all defect pixels (at the comparison size)."""
    out: dict[str, float | None] = {}
    area: dict[str, float] = {}
    for it in items:
        if it.mask is not None:
            area[it.path.parent.name] = area.get(it.path.parent.name, 0.0) + float(mask_at_side(it.mask).sum())
    for kind in sorted({it.path.parent.name for it in items if it.label}):
        alone = [i for i, it in enumerate(items) if it.path.parent.name in (kind, "good")]
        rest = [i for i, it in enumerate(items) if it.path.parent.name != kind]
        out[f"pixel {kind} + good"] = pixel_auroc([items[i] for i in alone], [maps[i] for i in alone])
        out[f"pixel without {kind}"] = pixel_auroc([items[i] for i in rest], [maps[i] for i in rest])
        out[f"share of defect pixels {kind}"] = area.get(kind, 0.0) / max(sum(area.values()), 1.0)
    return out


def one_shot_spread(items: list[Item], samples: dict[Path, ImageSample], expert: ImageExpert,
                    choices: int) -> dict[str, float | None]:
    """1-shot image AUROC with each of the first ``choices`` good images (sorted order) as the only reference: the
    mean, the lowest and the highest."""
    good = [it for it in items if it.label == 0][:choices]
    values = []
    for ref in good:
        rest = [it for it in items if it is not ref]
        results = expert.score_many([samples[it.path] for it in rest], [samples[ref.path]])
        value = auroc([it.label for it in rest], [r.raw_score for r in results])
        if value is not None:
            values.append(value)
    if not values:
        return {}
    return {f"1-shot, {len(values)} refs: mean": float(np.mean(values)), "min": min(values), "max": max(values)}


def run_set(name: str, root: Path, expert: ImageExpert, modes: list[str], defects: bool = False,
            choices: int = 1) -> Row:
    items = load_set(root)
    samples = {it.path: ImageSample.from_path(it.path) for it in items}
    good = [it for it in items if it.label == 0]
    row = Row(name)
    start = time.perf_counter()
    if "one" in modes:
        ref, rest = good[0], [it for it in items if it is not good[0]]
        results = expert.score_many([samples[it.path] for it in rest], [samples[ref.path]])
        labels, scores = [it.label for it in rest], [r.raw_score for r in results]
        row.scores["1-shot"] = auroc(labels, scores)
        row.scores["1-shot acc"] = accuracy(labels, [r.score for r in results])
        row.scores["pixel 1-shot"] = pixel_auroc(rest, [r.anomaly_map for r in results])
        if defects:
            row.scores.update(by_defect(rest, [r.anomaly_map for r in results]))
        if choices > 1:
            row.scores.update(one_shot_spread(items, samples, expert, choices))
    if "zero" in modes:
        results = expert.score_many([samples[it.path] for it in items])
        labels = [it.label for it in items]
        row.scores["zero-shot"] = auroc(labels, [r.raw_score for r in results])
        row.scores["zero-shot acc"] = accuracy(labels, [r.score for r in results])
    if "all" in modes:
        refs = [samples[it.path] for it in good]
        bad = [it for it in items if it.label == 1]
        results = expert.score_many([samples[it.path] for it in bad], refs)
        raw, cal = [r.raw_score for r in results], [r.score for r in results]
        for i, it in enumerate(good):
            r = expert.score(samples[it.path], refs[:i] + refs[i + 1:])
            raw.append(r.raw_score)
            cal.append(r.score)
        labels = [1] * len(bad) + [0] * len(good)
        row.scores["all good"] = auroc(labels, raw)
        row.scores["all good acc"] = accuracy(labels, cal)
    row.seconds = time.perf_counter() - start
    return row


def run_deeppcb(root: Path, expert: ImageExpert) -> Row:
    """Each test board against its own defect-free template: pixel AUROC and the share flagged anomalous."""
    row = Row("deeppcb")
    start = time.perf_counter()
    tests = sorted((root / "defect").glob("*_test.jpg"))
    flagged, truth, pred = [], [], []
    for t in tests:
        template = root / "good" / t.name.replace("_test", "_temp")
        r = expert.score(ImageSample.from_path(t), [ImageSample.from_path(template)])
        flagged.append(r.score >= 0.5)
        truth.append(mask_at_side(root / "ground_truth" / "defect" / f"{t.stem}_mask.png").ravel())
        pred.append(cv2.resize(r.anomaly_map, (PIXEL_SIDE, PIXEL_SIDE), interpolation=cv2.INTER_AREA).ravel())
    row.scores["pixel 1-shot"] = float(roc_auc_score(np.concatenate(truth), np.concatenate(pred)))
    row.scores["1-shot acc"] = float(np.mean(flagged))
    row.seconds = time.perf_counter() - start
    return row


def parse_expert(args: list[str]) -> ImageExpert:
    kwargs: dict[str, object] = {}
    for a in args:
        key, _, value = a.partition("=")
        kwargs[key] = tuple(value.split(",")) if key == "stages" else json.loads(value) if value[:1].isdigit() \
            else value
    return ImageExpert(**kwargs)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=["main"], help="set names, 'main', 'extra' or 'all'")
    parser.add_argument("--modes", nargs="*", default=["one", "zero", "all"], choices=["one", "zero", "all"])
    parser.add_argument("--expert", nargs="*", default=[], help="ImageExpert parameters as key=value")
    parser.add_argument("--by-defect", action="store_true",
                        help="1-shot pixel AUROC per defect type (with the good images, and the set without it)")
    parser.add_argument("--reference-choices", type=int, default=1, metavar="N",
                        help="also 1-shot AUROC with each of the first N good images as the reference (mean, min, max)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    if not (DATA / "MANIFEST.md").is_file():
        print(f"shared data not found at {DATA}; set GENAD_SHARED_DATA", file=sys.stderr)
        return 2
    names: list[str] = []
    for s in args.sets:
        names += list(MAIN) if s == "main" else list(EXTRA) if s == "extra" else [*MAIN, *EXTRA] if s == "all" else [s]
    expert = parse_expert(args.expert)
    rows = []
    for name in names:
        root = DATA / {**MAIN, **EXTRA}[name]
        if name == "deeppcb":
            row = run_deeppcb(root, expert)
        else:
            row = run_set(name, root, expert, args.modes, args.by_defect, args.reference_choices)
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{k}={v:.3f}" for k, v in row.scores.items() if v is not None)
              + f" ({row.seconds:.0f} s)", file=sys.stderr, flush=True)
    columns = ["1-shot", "zero-shot", "all good", "pixel 1-shot", "1-shot acc", "zero-shot acc", "all good acc"]
    columns += list(dict.fromkeys(k for r in rows for k in r.scores if k.startswith("1-shot, ") or k in ("min", "max")))
    print("| set | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in rows:
        cells = [f"{row.scores[c]:.2f}" if row.scores.get(c) is not None else "—" for c in columns]
        print(f"| {row.name} | " + " | ".join(cells) + " |")
    main_rows = [r for r in rows if r.name in MAIN]
    if main_rows:
        means = []
        for c in columns:
            vals = [r.scores[c] for r in main_rows if r.scores.get(c) is not None]
            means.append(f"**{np.mean(vals):.2f}**" if vals else "—")  # type: ignore[arg-type]
        print("| **mean (main sets)** | " + " | ".join(means) + " |")
    print(f"\nexpert: {expert.__getstate__()}")
    if args.json:
        args.json.write_text(json.dumps([{"set": r.name, **r.scores, "seconds": r.seconds} for r in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
