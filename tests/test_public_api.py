"""The public names are a promise: this test pins them, so adding or removing one is a deliberate change."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import genad

PUBLIC = {
    "AnomalyReport", "CachedClient", "Conversation", "Detector", "Expert", "ExpertResult", "Feedback",
    "FeedbackStore", "FollowUp", "ImagePart", "LadderPrompt", "Mapped", "Message", "Modality", "ModalityBase",
    "OpenAIClient", "PromptBuilder", "PromptContext", "Region", "Renderer", "Rendering", "Reply", "Sample", "Task",
    "Usage", "VLMClient", "ViewRegion", "__version__", "errors", "get_modality", "load_sample", "modality_names",
    "modality_of", "parse_answer", "register_modality",
}
MODULES = {
    "genad.annotate": {"MARK_COLOURS", "SOURCE_COLOURS", "blend_heatmap", "draw_box", "draw_marks", "draw_regions",
                       "draw_report", "figure_to_array", "heat_strip", "mark_region", "score_plot", "show", "stack",
                       "tint"},
    "genad.testing": {"ScriptedClient", "check_client", "check_expert", "check_modality", "check_prompt_builder",
                      "check_renderer"},
    **{f"genad.modalities.{name}": {f"{cls}{part}" for part in ("Expert", "Modality", "Renderer", "Rendering",
                                                                 "Sample")} | {"modality"}
       for name, cls in (("image", "Image"), ("pointcloud", "PointCloud"), ("video", "Video"),
                         ("series", "Series"))},
}
MOVED = {f"{cls}{part}" for cls in ("Image", "PointCloud", "Video", "Series") for part in ("Sample", "Renderer",
                                                                                        "Expert")}


def test_all_is_pinned() -> None:
    assert set(genad.__all__) == PUBLIC
    assert sorted(genad.__all__) == list(genad.__all__)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_public_modules_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == MODULES[module]
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_every_public_name_resolves() -> None:
    for name in genad.__all__:
        assert getattr(genad, name) is not None, name


def test_names_moved_to_their_modality_warn_and_still_work() -> None:
    for name in sorted(MOVED):
        with pytest.warns(DeprecationWarning, match=f"genad.{name} is deprecated"):
            old = getattr(genad, name)
        package = "genad.modalities." + name.removesuffix("Sample").removesuffix("Renderer").removesuffix(
            "Expert").lower()
        assert old is getattr(importlib.import_module(package), name)


def test_old_module_paths_warn_and_give_the_moved_module() -> None:
    code = ("import warnings; warnings.simplefilter('error')\n"
            "try:\n    import genad.experts.image\nexcept DeprecationWarning as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "genad.experts.image is deprecated" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("genad.experts.image")
    assert old.ImageExpert is importlib.import_module("genad.modalities.image").ImageExpert
    assert old.__spec__ is not None and old.__spec__.name == "genad.modalities.image._expert"


def test_importing_genad_imports_no_dependency() -> None:
    heavy = ("numpy", "cv2", "scipy", "pydantic", "pandas", "openai", "matplotlib", "trimesh", "onnxruntime",
             "torch", "sklearn", "PIL")
    code = f"import sys, genad; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_the_package_ships_its_type_hints() -> None:
    from importlib.resources import files

    assert files("genad").joinpath("py.typed").is_file()
