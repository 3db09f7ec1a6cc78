"""Deprecated module paths of genad 0.1, kept importable: ``import genad.experts.image`` gives the module that
now holds its names (``genad.modalities.image``'s expert module) with a :class:`DeprecationWarning`."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence

__all__ = ["MOVED_MODULES", "install"]

_MODALITY_PARTS = {"samples": "_sample", "render": "_render", "experts": "_expert"}
MOVED_MODULES: dict[str, str] = {
    "genad.report": "genad._report", "genad.detector": "genad._detector",
    "genad.conversation": "genad._conversation", "genad.verify": "genad._verify",
    "genad.feedback": "genad._feedback", "genad.parse": "genad._parse", "genad.marks": "genad.annotate",
    "genad.cli": "genad._cli", "genad.demo": "genad._demo",
    "genad.prompts.ladder": "genad._ladder", "genad.prompts.contract": "genad._contract",
    "genad.prompts.messages": "genad._messages", "genad.clients.base": "genad._client",
    "genad.clients.openai": "genad._openai", "genad.clients.cache": "genad._cache",
    "genad.render.base": "genad._rendering", "genad.experts.base": "genad._expert",
    "genad.samples.base": "genad._sample", "genad.eval.metrics": "genad.metrics",
    **{f"genad.eval.{m}": f"genad.eval._{m}" for m in ("datasets", "runner", "html", "cli", "nab")},
    **{f"genad.{old}.{name}": f"genad.modalities.{name}.{new}" for old, new in _MODALITY_PARTS.items()
       for name in ("image", "pointcloud", "video", "series")},
}
"""Old module path -> the module that holds its names now."""
_OLD_PACKAGES = ("genad.samples", "genad.render", "genad.experts", "genad.prompts", "genad.clients")


class _MovedFinder:
    """Finds the old paths and loads each as the module it moved to (packages as empty namespaces); a meta path
    finder and loader by duck typing, so ``import genad`` does not pay for ``importlib.abc``."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED_MODULES or fullname in _OLD_PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in _OLD_PACKAGES)  # type: ignore[arg-type]
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = MOVED_MODULES.get(spec.name)
        if new is None:
            module = types.ModuleType(spec.name, "genad 0.1 package; its modules moved (see genad._compat)")
            module.__path__ = []
            return module
        warnings.warn(f"{spec.name} is deprecated; its names are in {new} (import public names from genad or "
                      "genad.modalities.*)", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        self._specs[module.__name__] = module.__spec__  # the import system overwrites it; exec_module restores it
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module is the one it moved to; only its own spec is put back."""
        if module.__name__ in self._specs:
            module.__spec__ = self._specs.pop(module.__name__)


def install() -> None:
    """Put the finder at the end of ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
