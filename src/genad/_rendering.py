"""The renderer seam: a :class:`Renderer` turns a sample into a :class:`Rendering`, the images a VLM can read.

A :class:`Rendering` also carries the exact map between its images and the sample's own coordinates:
``to_native`` takes a region named on a rendered image (a :class:`ViewRegion`) back to a :class:`~genad.Region`
in pixels, point indices, frames or series positions; ``to_views`` projects a native region onto the images
(used to draw the local expert's candidates as numbered marks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

from genad._report import Region

__all__ = ["AnswerField", "Mapped", "Renderer", "Rendering", "ViewRegion"]

AnswerField = Literal["box", "interval", "cells"]
"""The ways a VLM can point at something on a rendered image (keys of a region in the answer contract)."""

SampleT_contra = TypeVar("SampleT_contra", contravariant=True)


@dataclass(frozen=True)
class ViewRegion:
    """A region named on one rendered image, in that image's terms.

    Parameters
    ----------
    view
        The 0-based image index.
    box
        ``(x0, y0, x1, y1)`` in that image's pixels.
    interval
        ``(start, end)`` in the x-axis units printed on a plot.
    cells
        1-based cell numbers of a keyframe grid.
    label, confidence
        What the VLM called it, and how sure it was (0 to 1).
    """

    view: int
    box: tuple[float, float, float, float] | None = None
    interval: tuple[float, float] | None = None
    cells: tuple[int, ...] | None = None
    label: str = ""
    confidence: float | None = None


@dataclass(frozen=True)
class Mapped:
    """What :meth:`Rendering.to_native` made of a :class:`ViewRegion`.

    Parameters
    ----------
    region
        The region in the sample's coordinates, or ``None`` when it was dropped.
    note
        What was clipped or dropped and why; ``None`` when the region mapped cleanly.
    """

    region: Region | None
    note: str | None = None


@dataclass(eq=False)
class Rendering:
    """The images a VLM sees for one sample, plus the exact map back to the sample.

    Subclasses implement :meth:`to_native` and :meth:`to_views`.

    Parameters
    ----------
    images
        RGB uint8 arrays, ``(H, W, 3)``.
    labels
        One caption per image, shown to the VLM next to it (or empty).
    noun
        How prompts call the images: ``"image"``, ``"rendered depth image"``, ``"video frames"``.
    locate_hint
        How the VLM should point at things in these images.
    answer_fields
        The region keys of the answer contract that :meth:`to_native` reads; a VLM region's other keys are
        dropped with a note.
    image_format
        How the images are encoded for the wire: JPEG for photos (fast and small), PNG for plots and renders
        with flat colours.
    meta
        Anything else a renderer wants to keep.
    """

    images: list[np.ndarray]
    labels: list[str] = field(default_factory=list)
    noun: str = "image"
    locate_hint: str = "Give each region as a box [x_min, y_min, x_max, y_max] in pixels of the image it is in."
    answer_fields: tuple[AnswerField, ...] = ("box",)
    image_format: Literal["png", "jpeg"] = "jpeg"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_native(self, region: ViewRegion) -> Mapped:
        """Map a region named on ``images[region.view]`` back to the sample's coordinates."""
        raise NotImplementedError(f"{type(self).__name__} cannot map regions back to the sample")

    def to_views(self, region: Region) -> list[ViewRegion]:
        """Project a region in the sample's coordinates onto the images (may be empty)."""
        raise NotImplementedError(f"{type(self).__name__} cannot project regions onto its images")

    def missing_view(self, view: int) -> Mapped | None:
        """A dropped :class:`Mapped` with a note when an image does not exist, else ``None``.

        Parameters
        ----------
        view
            The 0-based image index.
        """
        if not 0 <= view < len(self.images):
            return Mapped(None, f"dropped a region on image {view + 1}: there are {len(self.images)} images")
        return None


@runtime_checkable
class Renderer(Protocol[SampleT_contra]):
    """Turns one typed sample into a :class:`Rendering`.

    A renderer's constructor only stores its parameters, and a renderer pickles. Check one with
    :func:`genad.testing.check_renderer`.
    """

    def render(self, sample: SampleT_contra) -> Rendering:
        """The images a VLM sees for a sample, with the map back to its coordinates.

        Parameters
        ----------
        sample
            A typed sample of the renderer's modality.
        """
        ...
