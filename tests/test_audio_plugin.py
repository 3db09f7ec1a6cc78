"""A modality from outside genad: examples/genad-audio, installed as its own package, used with no edit to genad.

The package is installed with pip into a temporary folder (no network: the test extra's hatchling builds it) and every
step runs in a subprocess with that folder on ``PYTHONPATH``, so the modality arrives only through its
``genad.modalities`` entry point.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "examples" / "genad-audio"
RATE = 16000


def _write_wav(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _hum(seed: int, whine: bool = False) -> np.ndarray:
    """One second of a machine's hum (120 and 240 Hz, noise); ``whine`` adds a 3 kHz tone from 0.5 to 0.7 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE) / RATE
    y = 0.4 * np.sin(2 * np.pi * 120 * t + rng.random()) + 0.2 * np.sin(2 * np.pi * 240 * t)
    y += rng.normal(scale=0.02, size=t.size)
    if whine:
        y[8000:11200] += 0.3 * np.sin(2 * np.pi * 3000 * t[8000:11200])
    return y


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(PACKAGE)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"pip could not install examples/genad-audio:\n{result.stderr[-2000:]}")
    return {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "error::DeprecationWarning"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audio") / "fan"
    for k in range(4):
        _write_wav(root / "good" / f"{k:02d}.wav", _hum(k))
    for k in range(3):
        _write_wav(root / "whine" / f"{k:02d}.wav", _hum(10 + k, whine=True))
    return root.parent


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_entry_point_registers_audio_and_detector_uses_it(installed: dict[str, str], clips: Path) -> None:
    code = f"""
import json
from genad import Detector, modality_names, get_modality
from genad.testing import check_expert, check_modality
audio = get_modality("audio")
good, bad = {str(clips / "fan" / "good" / "00.wav")!r}, {str(clips / "fan" / "whine" / "00.wav")!r}
refs = [{str(clips / "fan" / "good" / "01.wav")!r}, {str(clips / "fan" / "good" / "02.wav")!r}]
check_modality(audio, good)
check_expert(audio.default_expert(), audio.load(good), audio.load(bad), [audio.load(r) for r in refs],
             map_shape=(16000,))
report = Detector(mode="local").detect(bad, references=refs)
print(json.dumps({{"names": modality_names(), "report": report.to_dict()}}))
"""
    out = json.loads(_run([sys.executable, "-c", code], installed, clips).splitlines()[-1])
    assert out["names"][-1] == "audio"
    report = out["report"]
    assert report["modality"] == "audio" and report["is_anomalous"] is True
    (region,) = report["regions"]
    first, last = region["interval"]
    assert 7500 <= first <= 8500 and 10700 <= last <= 11700  # the whine: samples 8000 to 11199
    assert region["span"][0] == pytest.approx(first / RATE)


def test_genad_detect_and_render_read_wav_files(installed: dict[str, str], clips: Path, tmp_path: Path) -> None:
    cli = [sys.executable, "-m", "genad"]
    bad, good = clips / "fan" / "whine" / "01.wav", clips / "fan" / "good" / "03.wav"
    report = json.loads(_run([*cli, "detect", str(bad), "--reference", str(good), "--json"], installed, clips))
    assert (report["modality"], report["is_anomalous"]) == ("audio", True)
    listed = _run([*cli, "render", str(bad), "--out", str(tmp_path / "renders")], installed, clips).split()
    assert [Path(p).name for p in listed] == ["01_01.png"]
    help_text = _run([*cli, "detect", "--help"], installed, clips)
    assert "audio" in help_text  # --modality choices come from the registry


def test_genad_eval_scores_an_audio_folder(installed: dict[str, str], clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "metrics.json"
    _run([sys.executable, "-m", "genad", "eval", str(clips), "--shots", "1", "--out", str(out), "--cache",
          str(tmp_path / "cache"), "--report", str(tmp_path / "report.html"), "--quiet"], installed, clips)
    metrics = json.loads(out.read_text())
    assert metrics["format"] == "mvtec"
    fan = metrics["categories"]["fan"]
    assert (fan["n"], fan["n_anomalous"], fan["errors"]) == (6, 3, 0)
    assert fan["sample_auroc"] == 1.0
    assert "<h3>fan</h3>" in (tmp_path / "report.html").read_text()


def _code_strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_genad_itself_knows_nothing_of_audio() -> None:
    """Only docstrings may mention audio (as the example of a plug-in); no code names it."""
    found = [p.name for p in (ROOT / "src" / "genad").rglob("*.py")
             if any("audio" in s.lower() or ".wav" in s for s in _code_strings(p))]
    assert not found
