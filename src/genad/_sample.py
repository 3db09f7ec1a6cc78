"""What every typed sample has in common, and loading one from a path or an in-memory object."""

from __future__ import annotations

import os
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

__all__ = ["Sample", "SampleFactory", "load_with"]


@runtime_checkable
class Sample(Protocol):
    """A validated sample of one modality.

    Attributes
    ----------
    modality
        The name of the modality it belongs to (``"image"``, ``"pointcloud"``, ``"video"``, ``"series"``, or a
        plug-in's).
    name
        Where it came from (a path), or ``None``.
    """

    modality: ClassVar[str]
    name: str | None


SampleT_co = TypeVar("SampleT_co", covariant=True)


class SampleFactory(Protocol[SampleT_co]):
    """A sample class that reads files and converts in-memory objects."""

    @classmethod
    def from_path(cls, path: Any) -> SampleT_co: ...

    @classmethod
    def from_array(cls, obj: Any, name: str | None = None) -> SampleT_co: ...


def load_with(cls: type[SampleT_co] | SampleFactory[SampleT_co], obj: Any, name: str | None = None) -> SampleT_co:
    """``obj`` as a ``cls`` sample: itself if it is one, read with ``from_path`` if it is a path, else converted
    with ``from_array`` (named ``name``)."""
    if isinstance(obj, cls):  # type: ignore[arg-type]
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return cls.from_path(obj)  # type: ignore[union-attr]
    return cls.from_array(obj, name=name)  # type: ignore[union-attr]
