"""The local image expert: PatchCore-style nearest-neighbour patch distances on EfficientNet-Lite0 features.

>>> expert = ImageExpert()
>>> result = expert.score("part.png", references=["good1.png", "good2.png"])  # doctest: +SKIP
>>> result.score, result.is_anomalous, result.regions  # doctest: +SKIP

See ``docs/image-expert.md`` for the method, the calibration rule and measured figures.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np
from scipy import ndimage

from genad.errors import InputError, MissingDependencyError
from genad.experts._backbone import FEATURE_STRIDES, INSTALL_HINT, cached_model_path
from genad.experts._patches import embed, mutual_distances, nn_distances, rotations
from genad.experts.base import ExpertResult
from genad.report import Region
from genad.samples.image import ImageSample

__all__ = ["ImageExpert"]

Augment = Literal["none", "flips", "rotations"]
MASK_PIXEL_LIMIT = 4_000_000  # larger images get boxes only, so five region masks stay small
FEATURE_CACHE_BYTES = 256 * 2**20  # patch features of recently seen images, reused across calls
HELD_OUT = 4  # references scored leave-one-out for calibration


@dataclass(frozen=True)
class _Bank:
    """The normal patch features of one reference set and the calibration derived from them."""

    features: np.ndarray  # (M, D)
    squared: np.ndarray  # (M,) squared norms
    threshold: float
    scale: float
    normal_scores: tuple[float, ...]


class ImageExpert:
    """Scores images by the distance of their patch features to normal references (PatchCore-style).

    ``resolution`` is the square side images are resized to (a multiple of 16); ``stages`` are the backbone
    outputs concatenated into patch features; ``aggregate`` the side of the local averaging window;
    ``augment`` adds flipped (``"flips"``) or flipped and quarter-turned (``"rotations"``) copies of each
    reference to the memory bank; ``smoothing`` is the Gaussian sigma of the anomaly map in resized pixels;
    ``max_bank`` caps the memory bank (fewer augmentations, then a seeded random subset);
    ``mutual_fraction`` is the share of other images averaged in zero-shot mutual scoring; ``margin`` is the
    calibration margin (see :meth:`_calibrate`); ``max_regions`` caps the regions returned.
    """

    def __init__(
        self,
        resolution: int = 320,
        stages: tuple[str, ...] = ("stage2", "stage4"),
        aggregate: int = 3,
        augment: Augment = "rotations",
        smoothing: float = 4.0,
        max_bank: int = 64_000,
        mutual_fraction: float = 0.3,
        margin: float = 0.15,
        max_regions: int = 5,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.resolution = resolution
        self.stages = stages
        self.aggregate = aggregate
        self.augment = augment
        self.smoothing = smoothing
        self.max_bank = max_bank
        self.mutual_fraction = mutual_fraction
        self.margin = margin
        self.max_regions = max_regions
        self.threads = threads
        self.seed = seed

    # ------------------------------------------------------------------ public API
    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        """Score one image against normal ``references``; with none, against its own patches (for textures)."""
        return self.score_many([sample], references)[0]

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        """Score a batch. Without references and with two or more samples, scores them against each other
        (zero-shot mutual scoring); with references, each sample against the shared reference bank."""
        images = [_as_image(s) for s in samples]
        if not images:
            return []
        if references:
            bank = self._reference_bank([_as_image(r) for r in references])
            return [self._result(img, self._reference_map(img, bank), bank, "references") for img in images]
        if len(images) == 1:
            return [self._self_score(images[0])]
        return self._mutual(images)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_")}

    # ------------------------------------------------------------------ features
    def _session(self) -> Any:
        session = getattr(self, "session_", None)
        if session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                raise MissingDependencyError(f"the image expert needs onnxruntime: {INSTALL_HINT}") from None
            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
            session = ort.InferenceSession(str(cached_model_path()), options, providers=["CPUExecutionProvider"])
            self.session_ = session
        return session

    def _check_params(self) -> None:
        if self.resolution % 16 or self.resolution < 64:
            raise InputError(f"resolution must be a multiple of 16 and at least 64, got {self.resolution}")
        unknown = set(self.stages) - set(FEATURE_STRIDES)
        if unknown or not self.stages:
            raise InputError(f"stages must be among {sorted(FEATURE_STRIDES)}, got {self.stages}")
        if self.augment not in ("none", "flips", "rotations"):
            raise InputError(f"augment must be 'none', 'flips' or 'rotations', got {self.augment!r}")

    def _resize(self, pixels: np.ndarray) -> np.ndarray:
        """Resize to about ``resolution**2`` pixels keeping the aspect ratio, sides multiples of 16."""
        h, w = pixels.shape[:2]
        scale = self.resolution / np.sqrt(h * w)
        size = [min(2 * self.resolution, max(64, 16 * round(side * scale / 16))) for side in (w, h)]
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        return cv2.resize(pixels, (size[0], size[1]), interpolation=interp)

    def _features(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Patch features ``(h, w, D)`` of resized RGB images (batched by size)."""
        self._check_params()
        session = self._session()
        names = [o.name for o in session.get_outputs()]
        wanted = [names.index(s) for s in self.stages]
        out: list[np.ndarray] = [np.empty(0)] * len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, img in enumerate(images):
            by_shape.setdefault(img.shape, []).append(i)
        for idx in by_shape.values():
            for start in range(0, len(idx), 8):
                chunk = idx[start:start + 8]
                batch = np.stack([images[i] for i in chunk]).astype(np.float32).transpose(0, 3, 1, 2)
                stage_out = session.run(None, {"image": np.ascontiguousarray(batch)})
                for i, f in zip(chunk, embed([stage_out[k] for k in wanted], self.aggregate), strict=True):
                    out[i] = f
        return out

    def _augmented(self, resized: np.ndarray, kind: Augment) -> list[np.ndarray]:
        """``(P_a, D)`` features of an image and of each of its augmented copies (cached by content)."""
        key = hashlib.sha1(f"{kind}{resized.shape}".encode() + resized.tobytes()).hexdigest()
        cache: OrderedDict[str, list[np.ndarray]] = self.__dict__.setdefault("features_", OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        feats = [f.reshape(-1, f.shape[-1]) for f in self._features(rotations(resized, kind))]
        cache[key] = feats
        size = sum(a.nbytes for v in cache.values() for a in v)
        while size > FEATURE_CACHE_BYTES and len(cache) > 1:
            size -= sum(a.nbytes for a in cache.popitem(last=False)[1])
        return feats

    # ------------------------------------------------------------------ references
    def _reference_bank(self, refs: list[ImageSample]) -> _Bank:
        key = hashlib.sha1(repr((self.resolution, self.stages, self.aggregate, self.augment, self.max_bank,
                                 self.margin, self.smoothing)).encode())
        for r in refs:
            key.update(str(r.pixels.shape).encode())
            key.update(r.pixels.tobytes())
        digest = key.hexdigest()
        cache: OrderedDict[str, _Bank] = self.__dict__.setdefault("banks_", OrderedDict())
        if digest in cache:
            cache.move_to_end(digest)
            return cache[digest]
        resized = [self._resize(r.pixels) for r in refs]
        kind = self._bank_augmentation(sum(r.shape[0] * r.shape[1] // 64 for r in resized))
        per_ref = [np.concatenate(self._augmented(img, kind)) for img in resized]
        features = self._cap(np.concatenate(per_ref))
        normal = self._normal_scores(resized, per_ref)
        threshold, scale = self._calibrate(normal)
        bank = _Bank(features, np.einsum("ij,ij->i", features, features), threshold, scale, tuple(normal))
        cache[digest] = bank
        while len(cache) > 2:
            cache.popitem(last=False)
        return bank

    def _bank_augmentation(self, patches: int) -> Augment:
        """The requested augmentation, or a lighter one when the bank would exceed ``max_bank`` patches."""
        copies: dict[Augment, int] = {"rotations": 8, "flips": 3, "none": 1}
        for kind, n in copies.items():
            if n <= copies[self.augment] and patches * n <= self.max_bank:
                return kind
        return "none"

    def _cap(self, features: np.ndarray) -> np.ndarray:
        if features.shape[0] <= self.max_bank:
            return features
        rng = np.random.default_rng(self.seed)
        return features[np.sort(rng.choice(features.shape[0], self.max_bank, replace=False))]

    def _normal_scores(self, resized: list[np.ndarray], per_ref: list[np.ndarray]) -> list[float]:
        """Raw scores of images known to be normal, for calibration.

        With two or more references: each of up to four references scored against a bank of the others
        (leave-one-out). With one: four jittered copies of it (shifted by up to 2 %, brightness and contrast
        changed) scored against its own bank.
        """
        n = len(resized)
        if n >= 2:
            rng = np.random.default_rng(self.seed)
            held = sorted(rng.choice(n, min(n, HELD_OUT), replace=False).tolist())
            scores = []
            for i in held:
                others = self._cap(np.concatenate([per_ref[j] for j in range(n) if j != i]))
                grid = (resized[i].shape[0] // 8, resized[i].shape[1] // 8)
                scores.append(float(self._smooth(nn_distances(self._augmented(resized[i], "none")[0], others),
                                                 grid).max()))
            return scores
        jittered = [_jitter(resized[0], np.random.default_rng(self.seed + k)) for k in range(4)]
        return [float(self._smooth(nn_distances(f.reshape(-1, f.shape[-1]), per_ref[0]), f.shape).max())
                for f in self._features(jittered)]

    def _calibrate(self, normal: list[float]) -> tuple[float, float]:
        """Threshold and scale of the logistic map from raw distance to [0, 1].

        The threshold is the largest normal score times ``1 + margin`` plus two spreads; the spread (the scale)
        is the standard deviation of the normal scores floored at ``margin`` times their mean. A raw score at
        the threshold maps to 0.5 and each further spread multiplies the odds by e.
        """
        values = np.asarray(normal, dtype=np.float64)
        spread = max(float(values.std()), self.margin * float(values.mean()), 1e-6)
        threshold = float(values.max()) * (1.0 + self.margin) + 2.0 * spread
        return threshold, spread

    # ------------------------------------------------------------------ maps and results
    def _smooth(self, distances: np.ndarray, grid: tuple[int, ...]) -> np.ndarray:
        """Patch distances on a ``(h, w)`` grid as a smoothed map of the resized image (``8h x 8w``)."""
        h, w = grid[:2]
        up = cv2.resize(distances.reshape(h, w).astype(np.float32), (8 * w, 8 * h), interpolation=cv2.INTER_LINEAR)
        return cv2.GaussianBlur(up, (0, 0), self.smoothing) if self.smoothing > 0 else up

    def _reference_map(self, image: ImageSample, bank: _Bank) -> np.ndarray:
        resized = self._resize(image.pixels)
        feats = self._augmented(resized, "none")[0]
        return self._smooth(nn_distances(feats, bank.features, bank.squared),
                            (resized.shape[0] // 8, resized.shape[1] // 8))

    def _result(self, image: ImageSample, raw_map: np.ndarray, bank: _Bank, how: str) -> ExpertResult:
        raw = float(raw_map.max())
        calibrated = _sigmoid((raw_map - bank.threshold) / bank.scale)
        native = cv2.resize(calibrated, (image.width, image.height), interpolation=cv2.INTER_LINEAR)
        score = float(_sigmoid(np.float32((raw - bank.threshold) / bank.scale)))
        meta = {"scored_against": how, "threshold": bank.threshold, "scale": bank.scale,
                "normal_scores": bank.normal_scores, "resized": raw_map.shape}
        return ExpertResult(score=score, raw_score=raw, anomaly_map=native,
                            regions=_regions(native, self.max_regions), meta=meta)

    def _self_score(self, image: ImageSample) -> ExpertResult:
        """Zero-shot for one image: each patch against the image's own patches outside its neighbourhood."""
        feats = self._features([self._resize(image.pixels)])[0]
        h, w, d = feats.shape
        flat = feats.reshape(-1, d)
        sq = np.einsum("ij,ij->i", flat, flat)
        dist = sq[:, None] + sq[None, :] - 2.0 * (flat @ flat.T)
        yy, xx = np.divmod(np.arange(h * w), w)
        radius = max(2, min(h, w) // 8)
        near = (np.abs(yy[:, None] - yy[None, :]) <= radius) & (np.abs(xx[:, None] - xx[None, :]) <= radius)
        dist[near] = np.inf
        raw_map = self._smooth(np.sqrt(np.maximum(dist.min(axis=1), 0.0)), feats.shape)
        return self._result(image, raw_map, _batch_calibration([raw_map]), "itself")

    def _mutual(self, images: list[ImageSample]) -> list[ExpertResult]:
        resized = [self._resize(img.pixels) for img in images]
        kind = self._bank_augmentation(max(r.shape[0] * r.shape[1] // 64 for r in resized) * min(len(images), 32))
        feats = [self._augmented(r, kind) for r in resized]
        distances = mutual_distances(feats, self.mutual_fraction)
        maps = [self._smooth(d, (r.shape[0] // 8, r.shape[1] // 8)) for d, r in zip(distances, resized, strict=True)]
        calibration = _batch_calibration(maps)
        return [self._result(img, m, calibration, "batch") for img, m in zip(images, maps, strict=True)]


def _batch_calibration(maps: list[np.ndarray]) -> _Bank:
    """Calibration without references: the batch's pixel scores stand in for normal ones.

    Most pixels of most images are normal, so the median pixel score and the spread between it and the 90th
    percentile describe normal patches; the threshold is placed six spreads above the median.
    """
    pixels = np.concatenate([m.ravel() for m in maps])
    med = float(np.median(pixels))
    spread = max(float(np.percentile(pixels, 90) - med), 1e-6)
    return _Bank(np.zeros((0, 1), np.float32), np.zeros(0, np.float32), med + 6.0 * spread, spread,
                 tuple(float(m.max()) for m in maps))


def _as_image(obj: Any) -> ImageSample:
    if isinstance(obj, ImageSample):
        return obj
    from genad._modalities import load_sample

    sample = load_sample(obj, "image")
    assert isinstance(sample, ImageSample)
    return sample


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy shifted by up to 2 % of its size and re-exposed, standing in for another normal image."""
    h, w = image.shape[:2]
    m = np.array([[1.0, 0.0, rng.uniform(-0.02, 0.02) * w], [0.0, 1.0, rng.uniform(-0.02, 0.02) * h]])
    moved = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    gain, bias = rng.uniform(0.93, 1.07), rng.uniform(-8.0, 8.0)
    return np.clip(moved.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def _regions(score_map: np.ndarray, limit: int) -> tuple[Region, ...]:
    """Connected areas of ``score_map >= 0.5``, highest peak first, as boxes (and masks for images up to 4 MP)."""
    above = (score_map >= 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
    if count <= 1:
        return ()
    peaks = np.asarray(ndimage.maximum(score_map, labels, index=np.arange(count)), dtype=np.float32)
    order = [i for i in np.argsort(-peaks) if i != 0][:limit]
    keep_mask = score_map.size <= MASK_PIXEL_LIMIT
    out = []
    for i in order:
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        out.append(Region(box=(float(x), float(y), float(x + bw), float(y + bh)),
                          mask=(labels == i) if keep_mask else None, label="anomaly",
                          confidence=float(peaks[i]), source="expert"))
    return tuple(out)
