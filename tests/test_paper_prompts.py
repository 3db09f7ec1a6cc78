"""Every image prompt of the study's cases, rebuilt by LadderPrompt, matches the text the authors sent.

The study phrased the same category differently from prompt to prompt (for example "X-ray image on the chest"
and "chest x-ray"), so the table below gives, per case, the category phrase and expertise text the study used;
the wording around them comes from genad. Whitespace is normalised (the study has a doubled space) and a final
period is ignored (the study's Set-of-Mark medical prompts drop it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genad import LadderPrompt, PromptContext, Rendering
from genad._ladder import study_wording

LEVELS = {"naive": "task", "task_only": "task", "class_information": "class", "human_expertise": "expertise",
          "normal_rules": "rules", "som": "task"}

# case id -> (domain, noun, anomalies phrase, {variant or "variant/setting": category phrase}, expertise text or None)
MEDICAL_CRITERIA = "The image given should be classified as normal or {}."
CASES: dict[str, tuple[str, str, str, dict[str, str], str | None]] = {
    "industrial_ad/case1": ("industrial", "image", "anomalies or defects", {"*": "bottle"}, None),
    "industrial_ad/case2": ("industrial", "image", "anomalies or defects", {"*": "candle"}, None),
    "industrial_ad/case3": ("industrial", "image", "anomalies or defects", {"*": "PCB"}, None),
    "point_cloud_ad/case1": ("industrial", "rendered depth image", "anomalies or defects", {"*": "bagel"}, None),
    "point_cloud_ad/case2": ("industrial", "rendered depth image", "anomalies or defects", {"*": "peach"}, None),
    "point_cloud_ad/case3": ("industrial", "rendered depth image", "anomalies or defects", {"*": "rope"}, None),
    "logical_ad/case1": ("industrial", "image", "anomalies or defects", {"*": "breakfast boxes"}, None),
    "logical_ad/case2": ("industrial", "image", "anomalies or defects", {"*": "juice bottles"}, None),
    "logical_ad/case3": ("industrial", "image", "anomalies or defects", {"*": "splicing connectors"}, None),
    "logical_ad/case4": ("industrial", "image", "anomalies or defects", {"*": "screw bags"}, None),
    "medical_ad/chest_xray": ("medical", "image", "anomalies", {
        "class_information/zero-shot": "X-ray image on the chest", "human_expertise/zero-shot": "chest x-ray",
        "*": "Chest X-ray"}, MEDICAL_CRITERIA.format("pneumonia")),
    "medical_ad/retina_oct": ("medical", "image", "anomalies", {"*": "Retina OCT"},
                              "The image given should be classified as normal, drusen, diabetic macular edema or "
                              "choroidal neovascularization."),
    "medical_ad/head_ct": ("medical", "image", "anomalies", {"*": "head CT"}, MEDICAL_CRITERIA.format("hemorrhage")),
    "medical_ad/head_mri": ("medical", "image", "anomalies", {"zero-shot": "brain MRI", "*": "head MRI"},
                            MEDICAL_CRITERIA.format("with tumor")),
    "video_pedestrian/case1": ("industrial", "video frames", "anomalies or outliner points", {}, None),
    "video_traffic/case1": ("industrial", "image", "anomalies or outliner points", {}, None),
    "video_traffic/case2": ("industrial", "image", "anomalies or outliner points", {}, None),
    "time_series/case1": ("industrial", "image", "anomalies or outliner points", {}, None),
    "time_series/case2": ("industrial", "image", "anomalies or outliner points", {}, None),
}
MARK_CASES = {"industrial_al": "industrial", "medical_al": "medical"}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


def _category(table: dict[str, str], variant: str, setting: str) -> str | None:
    for key in (f"{variant}/{setting}", setting, "*"):
        if key in table:
            return table[key]
    return None


def _rules(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"(?:^|\s)\d+\.\s", text) if part.strip())


def _queries(shared_data: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    cases = json.loads((shared_data / "paper_cases" / "cases.json").read_text())["cases"]
    return [(c, q) for c in cases for q in c["queries"]]


def _one_image() -> Rendering:
    return Rendering(images=[np.zeros((8, 8, 3), np.uint8)])


def test_every_study_prompt_is_rebuilt(shared_data: Path) -> None:
    checked = 0
    for case, query in _queries(shared_data):
        group = case["id"].split("/")[0]
        setting, variant = query["setting"], query["variant"]
        if group in MARK_CASES:
            context = PromptContext(query=_one_image(), marks=_one_image())
            built = LadderPrompt(domain=MARK_CASES[group]).build(context)[0].content[-1]  # type: ignore[arg-type]
            assert isinstance(built, str)
            assert _norm(built).startswith(_norm(query["prompt"])), case["id"]
            checked += 1
            continue
        domain, noun, anomalies, categories, criteria = CASES[case["id"]]
        level = LEVELS[variant]
        n_refs = len(query["image_order"]) - 1 if setting == "one-shot" else 0
        rules = _rules(case["normal_standard_text"]) if level == "rules" else ()
        if criteria is None:
            criteria = case.get("normal_standard_text")
        text = study_wording(
            level,  # type: ignore[arg-type]
            noun=noun, n_references=n_refs, n_query=1, category=_category(categories, variant, setting),
            criteria=criteria, rules=rules, anomalies=anomalies, domain=domain,  # type: ignore[arg-type]
        )
        assert _norm(text) == _norm(query["prompt"]), f"{case['id']} {setting} {variant}"
        checked += 1
    assert checked == 80


@pytest.mark.parametrize(("n_refs", "expected"), [
    (0, "Please determine whether the image given about the bottle contains anomalies or defects."),
    (1, "The first image given about the bottle is normal. Please determine whether the second image given"),
    (3, "The first 3 images given about the bottle are normal. Please determine whether the fourth image given"),
])
def test_k_shot_generalises_the_study_wording(n_refs: int, expected: str) -> None:
    text = study_wording("class", n_references=n_refs, category="bottle")
    assert text.startswith(expected)
