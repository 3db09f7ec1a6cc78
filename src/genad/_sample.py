"""What every typed sample has in common."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

__all__ = ["Sample"]


@runtime_checkable
class Sample(Protocol):
    """A validated sample of one modality.

    ``modality`` names the pipeline it goes through (``"image"``, ``"pointcloud"``, ``"video"``, ``"series"``);
    ``name`` is where it came from (a path) or ``None``.
    """

    modality: ClassVar[str]
    name: str | None
