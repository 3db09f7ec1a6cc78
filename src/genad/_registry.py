"""The table of modalities: how a raw input becomes a typed sample, and each modality's default plug-ins.

Entries name their classes as ``"module:attribute"`` so that importing genad imports no modality's
heavy dependencies; they load on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genad._sample import Sample
from genad.errors import UnsupportedInputError

__all__ = ["MODALITIES", "Modality", "load_sample", "modality_of"]


@dataclass(frozen=True)
class Modality:
    """One modality's sample type, default renderer, default expert and file suffixes."""

    name: str
    sample: str
    renderer: str
    expert: str
    suffixes: tuple[str, ...]

    def sample_class(self) -> Any:
        return _resolve(self.sample)

    def default_renderer(self) -> Any:
        return _resolve(self.renderer)()

    def default_expert(self) -> Any:
        return _resolve(self.expert)()


def _resolve(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


MODALITIES: dict[str, Modality] = {
    m.name: m
    for m in (
        Modality(
            "image",
            "genad.modalities.image._sample:ImageSample",
            "genad.modalities.image._render:ImageRenderer",
            "genad.modalities.image._expert:ImageExpert",
            (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"),
        ),
        Modality(
            "pointcloud",
            "genad.modalities.pointcloud._sample:PointCloudSample",
            "genad.modalities.pointcloud._render:PointCloudRenderer",
            "genad.modalities.pointcloud._expert:PointCloudExpert",
            (".ply", ".pcd", ".xyz", ".pts", ".obj", ".stl", ".off", ".glb", ".gltf"),
        ),
        Modality(
            "video",
            "genad.modalities.video._sample:VideoSample",
            "genad.modalities.video._render:VideoRenderer",
            "genad.modalities.video._expert:VideoExpert",
            (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"),
        ),
        Modality(
            "series",
            "genad.modalities.series._sample:SeriesSample",
            "genad.modalities.series._render:SeriesRenderer",
            "genad.modalities.series._expert:SeriesExpert",
            (".csv", ".tsv", ".parquet"),
        ),
    )
}


def modality_of(obj: Any) -> str:
    """The modality a raw input belongs to, without loading it.

    Paths go by suffix (a folder is a video given as frames); arrays by shape: 1-D is a series,
    ``(N, 3)`` float is a point cloud, ``(H, W)`` or ``(H, W, 1|3|4)`` an image, ``(T, H, W[, C])`` a video.
    pandas objects are series, PIL images are images. ``.txt`` and ``.npy`` files are read and judged by shape.
    """
    if isinstance(obj, Sample):
        return obj.modality
    if isinstance(obj, (str, Path)):
        p = Path(obj)
        if p.is_dir():
            return "video"
        suffix = p.suffix.lower()
        for m in MODALITIES.values():
            if suffix in m.suffixes:
                return m.name
        if suffix in (".txt", ".npy"):
            return modality_of(_read_plain(p))
        raise UnsupportedInputError(f"no loader for files ending in {suffix!r}: {p.name}")
    module = type(obj).__module__
    if module.startswith("PIL."):
        return "image"
    if module == "pandas" or module.startswith("pandas."):
        return "series"
    import numpy as np

    if isinstance(obj, (list, tuple)):
        obj = np.asarray(obj)
    if isinstance(obj, np.ndarray):
        if obj.ndim == 1:
            return "series"
        if obj.ndim == 2 and obj.shape[1] == 3 and obj.dtype.kind == "f":
            return "pointcloud"
        if obj.ndim == 2 or (obj.ndim == 3 and obj.shape[2] in (1, 3, 4)):
            return "image"
        if obj.ndim in (3, 4):
            return "video"
    raise UnsupportedInputError(f"cannot tell the modality of a {type(obj).__name__}; pass a typed sample")


def load_sample(obj: Any, modality: str | None = None) -> Sample:
    """Turn a path, array, PIL image, pandas object or typed sample into a validated typed sample.

    Every sample class offers ``from_path(path)`` and ``from_array(obj, name=None)``.
    """
    if isinstance(obj, Sample) and (modality is None or obj.modality == modality):
        return obj
    name = modality or modality_of(obj)
    if name not in MODALITIES:
        raise UnsupportedInputError(f"unknown modality {name!r}; known: {sorted(MODALITIES)}")
    cls = MODALITIES[name].sample_class()
    if isinstance(obj, (str, Path)):
        p = Path(obj)
        if p.suffix.lower() in (".txt", ".npy"):
            return cls.from_array(_read_plain(p), name=str(p))
        return cls.from_path(p)
    return cls.from_array(obj)


def _read_plain(path: Path) -> Any:
    import numpy as np

    from genad.errors import CorruptInputError, InputError

    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, ndmin=1)
    except ValueError as exc:
        raise CorruptInputError(f"cannot read numbers from {path}: {exc}") from None
