"""Images for a VLM: :class:`ImageRenderer` bounds the size (and so the image tokens) and keeps the map exact."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genad._rendering import Mapped, Rendering, ViewRegion
from genad._report import Region
from genad.modalities.image._sample import ImageSample

__all__ = ["ImageRenderer", "ImageRendering"]


@dataclass(eq=False)
class ImageRendering(Rendering):
    """One resized image; a box on it maps to native pixels by the scale factors.

    Parameters
    ----------
    native_size
        ``(width, height)`` of the sample; the other fields are :class:`~genad.Rendering`'s.
    """

    native_size: tuple[int, int] = (0, 0)  # (width, height) of the sample

    def _scale(self, view: int) -> tuple[float, float]:
        h, w = self.images[view].shape[:2]
        return self.native_size[0] / w, self.native_size[1] / h

    def to_native(self, region: ViewRegion) -> Mapped:
        bad = self.missing_view(region.view)
        if bad is not None:
            return bad
        if region.box is None:
            return Mapped(Region(label=region.label, confidence=region.confidence, view=region.view))
        h, w = self.images[region.view].shape[:2]
        x0, y0, x1, y1 = region.box
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
        if cx1 <= cx0 or cy1 <= cy0:
            return Mapped(None, f"dropped box {list(region.box)} on image {region.view + 1}: outside the {w}x{h} image")
        note = None
        if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
            note = f"clipped box {list(region.box)} on image {region.view + 1} to the {w}x{h} image"
        sx, sy = self._scale(region.view)
        box = (cx0 * sx, cy0 * sy, cx1 * sx, cy1 * sy)
        return Mapped(Region(box=box, label=region.label, confidence=region.confidence, view=region.view), note)

    def to_views(self, region: Region) -> list[ViewRegion]:
        if region.box is None and region.mask is None:
            return []
        if region.box is not None:
            x0, y0, x1, y1 = region.box
        else:
            assert region.mask is not None
            ys, xs = np.nonzero(region.mask)
            if xs.size == 0:
                return []
            x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
        sx, sy = self._scale(0)
        return [ViewRegion(0, box=(x0 / sx, y0 / sy, x1 / sx, y1 / sy), label=region.label,
                           confidence=region.confidence)]


@dataclass(frozen=True)
class ImageRenderer:
    """Fit an image inside ``max_side`` pixels (never upscaling beyond ``min_side`` for tiny images).

    The map back to native pixels is exact: boxes are scaled by the same factors the image was resized with.

    Parameters
    ----------
    max_side
        The longest side in pixels. OpenAI-style endpoints bill by 512-pixel tiles after scaling the short side
        to 768 px, so the default 768 bounds a square image to four tiles.
    min_side
        Tiny images are upscaled until their short side is this many pixels, never beyond.
    """

    max_side: int = 768
    min_side: int = 64

    def render(self, sample: ImageSample) -> ImageRendering:
        import cv2

        h, w = sample.height, sample.width
        scale = min(1.0, self.max_side / max(h, w))
        if min(h, w) * scale < self.min_side:
            scale = min(self.min_side / min(h, w), self.max_side / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if size == (w, h):
            image = sample.pixels
        else:
            # area averaging avoids aliasing on strong reductions; linear is enough (and 3x faster) on mild ones
            interp = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR if scale < 1 else cv2.INTER_NEAREST
            image = cv2.resize(sample.pixels, size, interpolation=interp)
        return ImageRendering(
            images=[image],
            labels=[f"{size[0]}x{size[1]} px"],
            noun="image",
            locate_hint=f"Give each region as a box [x_min, y_min, x_max, y_max] in pixels of the "
            f"{size[0]}x{size[1]} image, origin at the top-left corner.",
            native_size=(w, h),
        )
