"""Pixel conversions shared by the modalities that read pictures."""

from __future__ import annotations

import numpy as np

from genad.errors import InputError

__all__ = ["to_uint8"]


def to_uint8(a: np.ndarray) -> np.ndarray:
    """``a`` as uint8: booleans to 0/255, floats in [0, 1] (else their range) and 16-bit values stretched to 0..255."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise InputError("image contains NaN or infinite values")
        lo, hi = (0.0, 1.0) if a.min() >= 0.0 and a.max() <= 1.0 else (float(a.min()), float(a.max()))
    elif a.dtype == np.uint16:
        lo, hi = 0.0, float(a.max()) if a.max() > 0 else 1.0
        hi = 65535.0 if hi > 4095 else hi
    else:
        lo, hi = float(a.min()), float(a.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((a.astype(np.float32) - lo) * scale + 0.5, 0, 255).astype(np.uint8)
