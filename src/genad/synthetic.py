"""A small demo set drawn by code: a woven texture and a washer-like part, normal and with defects, with masks.

Everything is generated deterministically from a seed, so the repository can ship the code instead of images.

>>> from genad.synthetic import make_image, write_set
>>> item = make_image("washer", "scratch", seed=3)
>>> item.image.shape, bool(item.mask.any())
((256, 256, 3), True)
>>> root = write_set("demo_data")  # writes demo_data/washer/good/000.png, ...  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from genad.errors import InputError

__all__ = ["CATEGORIES", "DEFECTS", "SyntheticImage", "make_image", "make_set", "write_set"]

CATEGORIES = ("weave", "washer")
DEFECTS: dict[str, tuple[str, ...]] = {
    "weave": ("scratch", "hole", "stain"),
    "washer": ("scratch", "stain", "missing_part"),
}


@dataclass(frozen=True, eq=False)
class SyntheticImage:
    """One generated image and its defect mask.

    Parameters
    ----------
    image
        RGB uint8, ``(size, size, 3)``.
    mask
        Boolean mask of the defect (all False when normal).
    category
        ``"weave"`` or ``"washer"``.
    defect
        The defect's name, or ``None`` when normal.
    name
        ``"<category>_<defect or good>_<seed>"``.
    """

    image: np.ndarray
    mask: np.ndarray
    category: str
    defect: str | None
    name: str


def make_image(category: str, defect: str | None = None, seed: int = 0, size: int = 256) -> SyntheticImage:
    """Draw one image of a category, normal or with a defect.

    Parameters
    ----------
    category
        One of :data:`CATEGORIES`.
    defect
        One of the category's :data:`DEFECTS`, or ``None`` for a normal image.
    seed
        Sets the small variations.
    size
        Width and height in pixels (at least 64).

    Raises
    ------
    InputError
        For an unknown category or defect, or a size under 64.
    """
    if category not in CATEGORIES:
        raise InputError(f"unknown category {category!r}; known: {CATEGORIES}")
    if defect is not None and defect not in DEFECTS[category]:
        raise InputError(f"unknown defect {defect!r} for {category}; known: {DEFECTS[category]}")
    if size < 64:
        raise InputError(f"size must be at least 64 pixels, got {size}")
    rng = np.random.default_rng([seed, CATEGORIES.index(category)])
    if category == "weave":
        image, mask = _weave(rng, size), np.zeros((size, size), dtype=bool)
    else:
        image, mask = _washer(rng, size, defect == "missing_part")
    if defect in ("scratch", "hole", "stain"):
        region = _defect_region(category, rng, size)
        image, mask = {"scratch": _scratch, "hole": _hole, "stain": _stain}[defect](image, rng, region)
    name = f"{category}_{defect or 'good'}_{seed:03d}"
    return SyntheticImage(image, mask, category, defect, name)


def make_set(n_good: int = 5, n_per_defect: int = 2, size: int = 256, seed: int = 0) -> list[SyntheticImage]:
    """Normal images and images of each defect, for every category.

    Parameters
    ----------
    n_good
        Normal images per category.
    n_per_defect
        Images per defect.
    size
        Width and height in pixels.
    seed
        The first seed; each image gets its own.
    """
    out = []
    for category in CATEGORIES:
        out += [make_image(category, None, seed + i, size) for i in range(n_good)]
        for defect in DEFECTS[category]:
            out += [make_image(category, defect, seed + 100 + i, size) for i in range(n_per_defect)]
    return out


def write_set(folder: str | Path, n_good: int = 5, n_per_defect: int = 2, size: int = 256, seed: int = 0) -> Path:
    """Write :func:`make_set` MVTec-style.

    The files are ``<category>/good/NNN.png``, ``<category>/<defect>/NNN.png`` and
    ``<category>/ground_truth/<defect>/NNN_mask.png`` (0 or 255).

    Parameters
    ----------
    folder
        Where to write.
    n_good, n_per_defect, size, seed
        As for :func:`make_set`.

    Returns
    -------
    Path
        The folder.
    """
    root = Path(folder)
    counters: dict[tuple[str, str], int] = {}
    for item in make_set(n_good, n_per_defect, size, seed):
        kind = item.defect or "good"
        index = counters.get((item.category, kind), 0)
        counters[(item.category, kind)] = index + 1
        target = root / item.category / kind / f"{index:03d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), cv2.cvtColor(item.image, cv2.COLOR_RGB2BGR))
        if item.defect is not None:
            mask_path = root / item.category / "ground_truth" / kind / f"{index:03d}_mask.png"
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(mask_path), item.mask.astype(np.uint8) * 255)
    return root


def _weave(rng: np.random.Generator, size: int) -> np.ndarray:
    """Plain-weave cloth: alternating warp and weft threads with shading, a little jitter and noise."""
    period = 16.0 + rng.uniform(-0.4, 0.4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    xx += rng.uniform(0, period)
    yy += rng.uniform(0, period)
    warp = np.cos(np.pi * (xx % period) / period - np.pi / 2) ** 2
    weft = np.cos(np.pi * (yy % period) / period - np.pi / 2) ** 2
    over = ((xx // period + yy // period) % 2).astype(bool)
    shade = np.where(over, 0.55 + 0.45 * warp, 0.55 + 0.45 * weft)
    shade += rng.normal(0, 0.03, shade.shape).astype(np.float32)
    base = np.array([176, 150, 112], dtype=np.float32) * rng.uniform(0.95, 1.05)
    return np.clip(shade[:, :, None] * base, 0, 255).astype(np.uint8)


def _washer(rng: np.random.Generator, size: int, missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """A metal ring with four bolt holes on a dark, slightly noisy background; optionally one wedge cut away."""
    img = np.full((size, size, 3), 38, dtype=np.float32) + rng.normal(0, 3, (size, size, 1)).astype(np.float32)
    c = size / 2 + rng.uniform(-3, 3, size=2)
    outer, inner = size * 0.40, size * 0.17
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(xx - c[0], yy - c[1])
    ring = (r <= outer) & (r >= inner)
    metal = 150 + 60 * (1 - (r - inner) / (outer - inner)) + rng.uniform(-6, 6)
    img[ring] = np.stack([metal, metal, metal * 1.05], axis=-1)[ring]
    u8 = np.clip(img, 0, 255).astype(np.uint8)
    turn = rng.uniform(0, np.pi / 2)
    for k in range(4):
        a = turn + k * np.pi / 2
        centre = (round(c[0] + np.cos(a) * size * 0.285), round(c[1] + np.sin(a) * size * 0.285))
        cv2.circle(u8, centre, int(size * 0.04), (38, 38, 38), -1, lineType=cv2.LINE_AA)
    mask = np.zeros((size, size), dtype=bool)
    if missing:
        a = turn + np.pi / 4 + rng.integers(0, 4) * np.pi / 2
        angle = (np.arctan2(yy - c[1], xx - c[0]) - a + np.pi) % (2 * np.pi) - np.pi
        wedge = ring & (np.abs(angle) < 0.35)
        u8[wedge] = 38
        mask = wedge
    return u8, mask


def _defect_region(category: str, rng: np.random.Generator, size: int) -> tuple[float, float]:
    """A defect centre: anywhere on the cloth, on the metal for the washer."""
    if category == "weave":
        return float(rng.uniform(0.2, 0.8) * size), float(rng.uniform(0.2, 0.8) * size)
    a, rad = rng.uniform(0, 2 * np.pi), rng.uniform(0.23, 0.34) * size
    return float(size / 2 + np.cos(a) * rad), float(size / 2 + np.sin(a) * rad)


def _scratch(image: np.ndarray, rng: np.random.Generator, at: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    size = image.shape[0]
    a = rng.uniform(0, np.pi)
    half = size * rng.uniform(0.08, 0.14)
    bend = rng.uniform(-0.3, 0.3) * half
    t = np.linspace(-1, 1, 24)
    pts = np.stack([at[0] + np.cos(a) * half * t - np.sin(a) * bend * (1 - t**2),
                    at[1] + np.sin(a) * half * t + np.cos(a) * bend * (1 - t**2)], axis=1)
    pts = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(mask, [pts], False, 255, thickness=3)
    out = image.copy()
    colour = (236, 236, 240) if image.mean() < 120 else (40, 34, 30)
    cv2.polylines(out, [pts], False, colour, thickness=3, lineType=cv2.LINE_AA)
    return out, mask > 0


def _hole(image: np.ndarray, rng: np.random.Generator, at: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    size = image.shape[0]
    axes = (int(size * rng.uniform(0.03, 0.06)), int(size * rng.uniform(0.03, 0.06)))
    centre = (int(at[0]), int(at[1]))
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(mask, centre, axes, rng.uniform(0, 180), 0, 360, 255, -1)
    out = image.copy()
    cv2.ellipse(out, centre, axes, 0, 0, 360, (18, 14, 12), -1, lineType=cv2.LINE_AA)
    return out, mask > 0


def _stain(image: np.ndarray, rng: np.random.Generator, at: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    size = image.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    radius = size * rng.uniform(0.07, 0.10)
    wobble = 1 + 0.25 * np.sin(3 * np.arctan2(yy - at[1], xx - at[0]) + rng.uniform(0, 6))
    d = np.hypot(xx - at[0], yy - at[1]) / (radius * wobble)
    alpha = np.clip(1.5 - d, 0, 1)[:, :, None] * 0.9
    tint = np.array([60, 30, 10], dtype=np.float32)
    out = (image.astype(np.float32) * (1 - alpha) + tint * alpha).astype(np.uint8)
    return out, alpha[:, :, 0] > 0.15
