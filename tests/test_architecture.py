"""The shape of the code: import layers, no import cycles, no private name used across modules, one path a name."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "genad"


def test_import_contracts_hold() -> None:
    """The layers and forbidden imports declared under [tool.importlinter] in pyproject.toml."""
    pytest.importorskip("importlinter", reason='needs the test extra: pip install -e ".[test]"')
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.split("Contracts:")[-1].split("\n")[0].replace("0 broken", "")


def test_no_import_cycle() -> None:
    """No module of genad imports, directly or not, a module that imports it (imports inside functions count;
    imports under ``if TYPE_CHECKING:`` do not, as they never run)."""
    grimp = pytest.importorskip("grimp", reason='needs the test extra: pip install -e ".[test]"')
    graph = grimp.build_graph("genad", exclude_type_checking_imports=True, cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                cycles.append(f"{module} -> {imported} -> ... -> {module}")
    assert not cycles, "\n".join(cycles)


def _imports(path: Path) -> list[tuple[int, str, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.module or "", alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) for alias in node.names]


def _is_module(package: str, name: str) -> bool:
    folder = SRC.parent.joinpath(*package.split("."))
    return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


def test_no_private_name_is_imported_across_modules() -> None:
    """Modules may be private (``genad._report``); the names one module takes from another are public."""
    found = [f"{path.relative_to(SRC)}:{line}: from {module} import {name}"
             for path in sorted(SRC.rglob("*.py")) for line, module, name in _imports(path)
             if module.startswith("genad") and name.startswith("_") and not name.endswith("__")
             and not _is_module(module, name)]
    assert not found, "\n".join(found)


def test_no_modality_name_is_branched_on_outside_its_folder() -> None:
    """Modalities are plug-ins: code outside ``genad/modalities/<name>/`` does not compare a modality with their
    names (``if item.modality == "video"``) or list them as choices."""
    names = {"image", "pointcloud", "video", "series"}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "modalities" in path.parts or path.name == "_compat.py":  # _compat maps genad 0.1's module paths
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                subjects = [n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(node)
                            if isinstance(n, (ast.Attribute, ast.Name))]
                values = {c.value for c in ast.walk(node) if isinstance(c, ast.Constant)}
                if any("modality" in s for s in subjects) and values & names:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: compares a modality with "
                                 f"{sorted(map(str, values & names))}")
            if isinstance(node, (ast.List, ast.Tuple)):
                values = {c.value for c in node.elts if isinstance(c, ast.Constant)}
                if len(values & names) >= 2:
                    listed = sorted(map(str, values & names))
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: lists modalities {listed}")
    assert not found, "\n".join(found)
