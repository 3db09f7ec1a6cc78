"""Renderers: samples into images a VLM can read, with the map back to the sample."""

from genad.render.base import Mapped, Renderer, Rendering, ViewRegion
from genad.render.image import ImageRenderer, ImageRendering

__all__ = ["ImageRenderer", "ImageRendering", "Mapped", "Renderer", "Rendering", "ViewRegion"]
