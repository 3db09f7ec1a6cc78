"""Patch-feature arithmetic for the image expert: embedding, nearest-neighbour distances, mutual scoring."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["coreset", "embed", "mutual_distances", "nn_distances", "rotations", "turned"]

_CHUNK = 8192  # memory-bank rows per distance block (keeps a block under ~60 MB for 1600 query patches)


def embed(stages: list[np.ndarray], aggregate: int = 3) -> np.ndarray:
    """Patch features ``(N, h, w, D)`` from stage outputs ``(N, C, H_s, W_s)``.

    Each stage is averaged over ``aggregate x aggregate`` neighbourhoods (PatchCore's local aggregation), brought
    to the finest stage's grid by bilinear resizing, and the stages are concatenated along channels.
    """
    n, _, h, w = stages[0].shape
    out = []
    for s in stages:
        per_image = []
        for x in s:
            hwc = np.ascontiguousarray(x.transpose(1, 2, 0))
            if aggregate > 1:
                hwc = _box(hwc, aggregate)
            if hwc.shape[:2] != (h, w):
                hwc = _resize(hwc, (w, h))
            per_image.append(hwc)
        out.append(np.stack(per_image))
    feats = np.concatenate(out, axis=-1).astype(np.float32)
    return feats.reshape(n, h, w, -1)


def _box(hwc: np.ndarray, k: int) -> np.ndarray:
    """Mean over ``k x k`` windows, channel by channel blocks (OpenCV takes at most 512 channels at once)."""
    return np.concatenate(
        [cv2.blur(hwc[:, :, i:i + 256], (k, k), borderType=cv2.BORDER_REFLECT).reshape(hwc.shape[0], hwc.shape[1], -1)
         for i in range(0, hwc.shape[2], 256)], axis=2)


def _resize(hwc: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.concatenate(
        [cv2.resize(hwc[:, :, i:i + 256], size, interpolation=cv2.INTER_LINEAR).reshape(size[1], size[0], -1)
         for i in range(0, hwc.shape[2], 256)], axis=2)


def nn_distances(query: np.ndarray, bank: np.ndarray, bank_sq: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance from each row of ``query`` ``(P, D)`` to its nearest row of ``bank`` ``(M, D)``."""
    q_sq = np.einsum("ij,ij->i", query, query)
    if bank_sq is None:
        bank_sq = np.einsum("ij,ij->i", bank, bank)
    best = np.full(query.shape[0], np.inf, dtype=np.float32)
    for start in range(0, bank.shape[0], _CHUNK):
        block = bank[start:start + _CHUNK]
        d = bank_sq[start:start + _CHUNK][None, :] - 2.0 * (query @ block.T)
        np.minimum(best, d.min(axis=1), out=best)
    return np.sqrt(np.maximum(best + q_sq, 0.0))


def mutual_distances(feats: list[list[np.ndarray]], fraction: float = 0.3, max_others: int = 32) -> list[np.ndarray]:
    """Zero-shot patch scores in the manner of MuSc: each image's patches against other images of the batch.

    ``feats[i]`` holds ``(P, D)`` features of image ``i`` and of its augmented copies, the image itself first.
    For image ``i`` and each other image ``j`` (at most ``max_others`` of them, spread evenly over the batch),
    every patch of ``i`` gets its nearest-neighbour distance among all patches of ``j`` and its copies. The
    patch score is the mean of the lowest ``fraction`` of these per-image distances, so a defect that recurs
    in a few other images still stands out, while a normal patch, matched well by most images, scores low.
    """
    n = len(feats)
    if n < 2:
        raise ValueError("mutual scoring needs at least two images")
    banks = [np.concatenate(f) for f in feats]
    sq = [np.einsum("ij,ij->i", b, b) for b in banks]
    out = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        if len(others) > max_others:
            others = [others[k] for k in np.linspace(0, len(others) - 1, max_others).round().astype(int)]
        keep = max(1, int(np.ceil(fraction * len(others))))
        per_image = np.stack([nn_distances(feats[i][0], banks[j], sq[j]) for j in others], axis=1)
        per_image.sort(axis=1)
        out.append(per_image[:, :keep].mean(axis=1))
    return out


def rotations(image: np.ndarray, kind: str) -> list[np.ndarray]:
    """``image`` followed by its copies under the chosen augmentation: ``"none"``, ``"flips"`` or ``"rotations"``
    (the eight flips and quarter turns)."""
    if kind == "none":
        return [image]
    if kind == "flips":
        return [image, image[:, ::-1], image[::-1, :]]
    out = []
    for k in range(4):
        r = np.rot90(image, k)
        out.extend([r, r[:, ::-1]])
    return [np.ascontiguousarray(a) for a in out]


def turned(image: np.ndarray, angle: float, margin: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned by ``angle`` degrees and zoomed by ``scale`` about its centre on the same canvas (uncovered
    corners filled by reflection), and a float32 mask of the pixels at least ``margin`` pixels inside the turned
    image (1) or not (0)."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    valid = cv2.warpAffine(np.ones((h, w), np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    if margin > 0:
        valid = cv2.erode(valid, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))  # the canvas edge is no corner
    return np.ascontiguousarray(out), valid.astype(np.float32)


def coreset(features: np.ndarray, fraction: float, seed: int = 0, dims: int = 32) -> np.ndarray:
    """Indices of a greedy k-centre coreset keeping ``fraction`` of the rows (PatchCore's subsampling).

    Rows are compared after a seeded random projection to ``dims`` dimensions; each step adds the row farthest
    from those already kept, so the kept rows cover the whole set and nearest-neighbour distances to them stay
    close to the distances to all rows.
    """
    n = features.shape[0]
    keep = max(1, round(fraction * n))
    if keep >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    projected = features @ rng.normal(0, 1 / np.sqrt(dims), (features.shape[1], dims)).astype(np.float32)
    squared = np.einsum("ij,ij->i", projected, projected)
    chosen = np.empty(keep, dtype=np.int64)
    chosen[0] = int(rng.integers(n))
    nearest = np.full(n, np.inf, dtype=np.float32)
    for i in range(1, keep):
        c = chosen[i - 1]
        np.minimum(nearest, squared - 2.0 * (projected @ projected[c]) + squared[c], out=nearest)
        chosen[i] = int(np.argmax(nearest))
    return np.sort(chosen)
