"""Images: :class:`ImageSample` and its loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genad._pixels import to_uint8
from genad.errors import CorruptInputError, EmptyInputError, InputError, UnsupportedInputError

__all__ = ["IMAGE_SUFFIXES", "ImageSample"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_PIXELS = 100_000_000


@dataclass(frozen=True, eq=False)
class ImageSample:
    """An RGB image. Build one with :meth:`from_path` or :meth:`from_array`, which convert grayscale, RGBA
    (composited on black), 16-bit and float images.

    Parameters
    ----------
    pixels
        ``(H, W, 3)`` uint8, RGB.
    name
        Where it came from (a path), or ``None``.
    bit_depth
        The original depth (8, 16, or 32 for floats).
    meta
        Anything a loader wants to keep.
    """

    pixels: np.ndarray
    name: str | None = None
    bit_depth: int = 8
    modality: ClassVar[str] = "image"
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        px = self.pixels
        if px.ndim != 3 or px.shape[2] != 3 or px.dtype != np.uint8:
            raise InputError(f"ImageSample.pixels must be (H, W, 3) uint8, got {px.shape} {px.dtype}")
        if px.shape[0] == 0 or px.shape[1] == 0:
            raise EmptyInputError("image has no pixels")

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @classmethod
    def from_path(cls, path: str | Path) -> ImageSample:
        """Read an image file (any depth, gray, RGB or RGBA)."""
        import cv2

        p = Path(path)
        if not p.is_file():
            raise InputError(f"no such image file: {p}")
        data = np.fromfile(p, dtype=np.uint8)
        if data.size == 0:
            raise EmptyInputError(f"empty file: {p}")
        array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if array is None:
            array = _decode_with_pillow(p)
        elif array.ndim == 3 and array.shape[2] >= 3:
            order = cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
            array = cv2.cvtColor(array, order)
        return cls.from_array(array, name=str(p))

    @classmethod
    def from_array(cls, array: Any, name: str | None = None) -> ImageSample:
        """Wrap a NumPy array (``(H, W)``, ``(H, W, 1|3|4)``; uint8, uint16 or float in [0, 1]) or a PIL image."""
        if _is_pil(array):
            array = np.asarray(array.convert("RGBA") if array.mode in ("P", "LA", "PA") else array)
        a = np.asarray(array)
        if a.dtype == object or a.dtype.kind not in "biuf":
            raise UnsupportedInputError(f"image array must be numeric, got dtype {a.dtype}")
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            raise UnsupportedInputError(f"image array must be (H, W) or (H, W, 3|4), got shape {a.shape}")
        if a.shape[0] == 0 or a.shape[1] == 0:
            raise EmptyInputError("image has no pixels")
        if a.shape[0] * a.shape[1] > MAX_PIXELS:
            raise InputError(f"image of {a.shape[1]}x{a.shape[0]} exceeds {MAX_PIXELS} pixels")
        bit_depth = {1: 8, 2: 16}.get(a.dtype.itemsize, 8) if a.dtype.kind in "iub" else 32
        u8 = to_uint8(a)
        if u8.ndim == 2:
            u8 = np.repeat(u8[:, :, None], 3, axis=2)
        elif u8.shape[2] == 4:
            alpha = u8[:, :, 3:4].astype(np.float32) / 255.0
            u8 = (u8[:, :, :3].astype(np.float32) * alpha + 0.5).astype(np.uint8)
        return cls(np.ascontiguousarray(u8), name=name, bit_depth=bit_depth)


def _is_pil(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.")


def _decode_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "LA", "PA", "CMYK", "YCbCr"):
                im = im.convert("RGBA")
            return np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CorruptInputError(f"cannot decode image {path}: {exc}") from None
