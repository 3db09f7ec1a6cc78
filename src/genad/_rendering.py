"""The renderer seam: :class:`Renderer` turns a sample into :class:`Rendering` images a VLM can read.

A :class:`Rendering` also carries the exact map between its images and the sample's own coordinates:
``to_native`` takes a region named on a rendered image (a :class:`ViewRegion`) back to a :class:`~genad.Region`
in pixels, point indices, frames or series positions; ``to_views`` projects a native region onto the images
(used to draw the local expert's candidates as numbered marks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from genad._report import Region

__all__ = ["Mapped", "Renderer", "Rendering", "ViewRegion"]


@dataclass(frozen=True)
class ViewRegion:
    """A region named on one rendered image, in that image's terms.

    ``view`` is the 0-based image index; ``box`` is ``(x0, y0, x1, y1)`` in that image's pixels; ``interval`` is
    ``(start, end)`` in the x-axis units printed on a plot; ``cells`` are 1-based cell numbers of a keyframe grid.
    """

    view: int
    box: tuple[float, float, float, float] | None = None
    interval: tuple[float, float] | None = None
    cells: tuple[int, ...] | None = None
    label: str = ""
    confidence: float | None = None


@dataclass(frozen=True)
class Mapped:
    """What :meth:`Rendering.to_native` made of a :class:`ViewRegion`: a region (``None`` if dropped) and a note
    saying what was clipped or dropped and why (``None`` when the region mapped cleanly)."""

    region: Region | None
    note: str | None = None


@dataclass(eq=False)
class Rendering:
    """The images a VLM sees for one sample, plus the map back to the sample.

    ``images`` are RGB uint8 arrays; ``labels`` name them (shown to the VLM next to each image);
    ``noun`` is how prompts call them (``"image"``, ``"rendered depth image"``, ``"video frames"``);
    ``locate_hint`` tells the VLM how to point at things in these images; ``image_format`` is how the images are
    encoded for the wire (JPEG for photos: fast and small; PNG for plots and renders with flat colours).
    Subclasses implement :meth:`to_native` and :meth:`to_views`.
    """

    images: list[np.ndarray]
    labels: list[str] = field(default_factory=list)
    noun: str = "image"
    locate_hint: str = "Give each region as a box [x_min, y_min, x_max, y_max] in pixels of the image it is in."
    image_format: Literal["png", "jpeg"] = "jpeg"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_native(self, region: ViewRegion) -> Mapped:
        """Map a region named on ``images[region.view]`` back to the sample's coordinates."""
        raise NotImplementedError(f"{type(self).__name__} cannot map regions back to the sample")

    def to_views(self, region: Region) -> list[ViewRegion]:
        """Project a region in the sample's coordinates onto the images (may be empty)."""
        raise NotImplementedError(f"{type(self).__name__} cannot project regions onto its images")

    def _check_view(self, view: int) -> Mapped | None:
        if not 0 <= view < len(self.images):
            return Mapped(None, f"dropped a region on image {view + 1}: there are {len(self.images)} images")
        return None


@runtime_checkable
class Renderer(Protocol):
    """Turns one typed sample into a :class:`Rendering`."""

    def render(self, sample: Any) -> Rendering: ...
