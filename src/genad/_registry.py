"""The one registry of modalities: genad's own, those of installed packages, and those registered at run time.

genad's modalities are named as ``"module:attribute"`` strings and third-party ones come from the
``genad.modalities`` entry-point group; both load on first use, so ``import genad`` imports none of them.
A package adds a modality with, in its ``pyproject.toml``::

    [project.entry-points."genad.modalities"]
    audio = "genad_audio:modality"
"""

from __future__ import annotations

import importlib
import threading
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genad.errors import ConfigurationError, CorruptInputError, InputError, UnsupportedInputError

if TYPE_CHECKING:
    from genad._modality import Modality
    from genad._sample import Sample

__all__ = ["ENTRY_POINT_GROUP", "get_modality", "load_sample", "modality_names", "modality_of", "register_modality"]

ENTRY_POINT_GROUP = "genad.modalities"
_BUILTIN = (
    "genad.modalities.series:modality",
    "genad.modalities.pointcloud:modality",
    "genad.modalities.image:modality",
    "genad.modalities.video:modality",
)
"""genad's own modalities, in the order in-memory objects are tried: a 1-D array is a series before anything
else, an ``(N, 3)`` float array a point cloud before an image, an ``(H, W, 3)`` array an image before a video."""
_PLAIN_SUFFIXES = (".txt", ".npy")
_MEMBERS = ("name", "suffixes", "anomaly_phrase", "coordinates", "accepts", "load", "default_renderer",
            "default_expert", "check_dependencies", "picture", "plot", "metrics", "pooled_metrics", "roc_points",
            "eval_picture")

_lock = threading.Lock()
_modalities: dict[str, Modality[Any]] = {}
_broken: dict[str, str] = {}
_loaded = False


def _load_all() -> dict[str, Modality[Any]]:
    global _loaded
    if _loaded:
        return _modalities
    with _lock:
        if _loaded:
            return _modalities
        for spec in _BUILTIN:
            module, _, attr = spec.partition(":")
            _add(getattr(importlib.import_module(module), attr), replace=False)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _modalities:
                continue
            try:
                _add(ep.load(), replace=False)
            except Exception as exc:  # a broken plug-in must not break genad's own modalities
                _broken[ep.name] = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"genad: the modality {ep.name!r} ({ep.value}) could not be loaded: {exc}",
                              RuntimeWarning, stacklevel=2)
        _loaded = True
    return _modalities


def _add(modality: Any, *, replace: bool) -> None:
    missing = [m for m in _MEMBERS if not hasattr(modality, m)]
    if missing:
        raise ConfigurationError(f"{modality!r} is not a modality: it lacks {', '.join(missing)} "
                                 "(subclass genad.ModalityBase)")
    if modality.name in _modalities and not replace:
        raise ConfigurationError(f"a modality named {modality.name!r} is already registered; pass replace=True")
    _modalities[modality.name] = modality


def register_modality(modality: Modality[Any], *, replace: bool = False) -> None:
    """Add ``modality`` to the registry for this process.

    Parameters
    ----------
    modality
        An object with the members of :class:`~genad.Modality` (usually a :class:`~genad.ModalityBase` subclass
        instance).
    replace
        Replace a registered modality of the same name instead of raising
        :class:`~genad.errors.ConfigurationError`.
    """
    _load_all()
    with _lock:
        _add(modality, replace=replace)


def modality_names() -> list[str]:
    """The names of every registered modality, genad's own first."""
    return list(_load_all())


def get_modality(name: str) -> Modality[Any]:
    """The registered modality called ``name``; :class:`~genad.errors.UnsupportedInputError` if there is none."""
    found = _load_all().get(name)
    if found is not None:
        return found
    if name in _broken:
        raise ConfigurationError(f"the modality {name!r} is installed but failed to load: {_broken[name]}")
    raise UnsupportedInputError(f"unknown modality {name!r}; known: {', '.join(sorted(_modalities))}")


def modality_of(obj: Any) -> str:
    """The name of the modality a raw input belongs to, without loading it.

    A typed sample says it; a path goes by its suffix (``.txt`` and ``.npy`` files are read and judged by their
    array); anything else (arrays, folders, PIL images, pandas objects) goes to the first modality that
    :meth:`~genad.Modality.accepts` it.
    """
    own = _own_modality(obj)
    if own is not None:
        return own
    registry = _load_all()
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        suffix = path.suffix.lower()
        if not path.is_dir():
            for m in registry.values():
                if suffix in m.suffixes:
                    return m.name
            if suffix in _PLAIN_SUFFIXES:
                return modality_of(_read_plain(path))
    for m in registry.values():
        if m.accepts(obj):
            return m.name
    if isinstance(obj, (str, Path)):
        raise UnsupportedInputError(f"no modality reads files ending in {Path(obj).suffix.lower()!r}: {obj}; "
                                    f"known suffixes: {', '.join(s for m in registry.values() for s in m.suffixes)}")
    raise UnsupportedInputError(f"cannot tell the modality of a {type(obj).__name__}; pass modality=... or a "
                                "typed sample")


def load_sample(obj: Any, modality: str | None = None) -> Sample:
    """A validated typed sample from a path, array, PIL image, pandas object or typed sample.

    Parameters
    ----------
    obj
        What to load; a typed sample of the right modality is returned as it is.
    modality
        The modality's name; guessed with :func:`modality_of` when ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> load_sample(np.zeros((4, 5, 3), np.uint8)).modality
    'image'
    """
    own = _own_modality(obj)
    if own is not None and modality in (None, own):
        return obj
    target = get_modality(modality or modality_of(obj))
    if isinstance(obj, (str, Path)) and Path(obj).suffix.lower() in _PLAIN_SUFFIXES and Path(obj).is_file():
        return target.load(_read_plain(Path(obj)), name=str(obj))
    return target.load(obj)


def _own_modality(obj: Any) -> str | None:
    """The modality a typed sample declares (a class attribute ``modality`` and an attribute ``name``)."""
    modality = getattr(type(obj), "modality", None)
    return modality if isinstance(modality, str) and hasattr(obj, "name") else None


def _read_plain(path: Path) -> Any:
    """The numbers in a ``.npy`` or whitespace-separated ``.txt`` file."""
    import numpy as np

    if not path.is_file():
        raise InputError(f"no such file: {path}")
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, ndmin=1)
    except ValueError as exc:
        raise CorruptInputError(f"cannot read numbers from {path}: {exc}") from None
