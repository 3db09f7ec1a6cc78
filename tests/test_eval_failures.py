"""``genad eval`` never hides a failure: a missing dependency stops it in one line with nothing cached, a wrong
``--format`` is a one-line error, and failed samples are counted, grouped by error type and scored again."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genad._cli import main
from genad.synthetic import write_set

BLOCK_ONNXRUNTIME = "import sys\nsys.modules['onnxruntime'] = None  # 'import onnxruntime' raises ImportError\n"


def _genad(args: list[str], cwd: Path, block: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m genad ARGS`` in a fresh interpreter; ``block`` is a folder whose sitecustomize.py runs first."""
    env = dict(os.environ)
    paths = [str(block)] if block is not None else []
    paths += [p for p in (env.get("PYTHONPATH") or "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["OMP_NUM_THREADS"] = "1"
    for name in ("GENAD_MODEL", "GENAD_BASE_URL", "OPENAI_MODEL", "OPENAI_BASE_URL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "genad", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.slow
def test_missing_dependency_stops_eval_in_one_line_and_caches_nothing(tmp_path: Path) -> None:
    data = write_set(tmp_path / "data", n_good=3, n_per_defect=1, size=64)
    block = tmp_path / "block"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCK_ONNXRUNTIME)
    args = ["eval", str(data), "--category", "weave", "--shots", "1", "--quiet", "--cache", str(tmp_path / "cache"),
            "--out", str(tmp_path / "metrics.json")]

    blocked = _genad(args, tmp_path, block)
    assert blocked.returncode != 0
    lines = blocked.stderr.strip().splitlines()
    assert len(lines) == 1, blocked.stderr
    assert lines[0].startswith("genad: MissingDependencyError: the image expert needs onnxruntime")
    assert 'pip install "genad[image]"' in lines[0]  # an installed genad
    assert 'pip install -e ".[image]"' in lines[0]  # a clone of the repository
    assert blocked.stdout == ""
    assert not (tmp_path / "metrics.json").exists()
    results = tmp_path / "cache" / "results.sqlite"
    if results.exists():
        with sqlite3.connect(results) as db:
            assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0

    fixed = _genad(args, tmp_path)  # the same command once the dependency is there
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    weave = metrics["categories"]["weave"]
    assert (weave["n"], weave["errors"]) == (5, 0)  # 6 images, one the reference: every other one scored
    assert metrics["cached"] == 0
    assert metrics["failures"] == []


@pytest.mark.parametrize("fmt", ["nab", "ucsd", "smap", "skab", "ucr"])
def test_an_explicit_format_on_another_layout_is_one_line(tmp_path: Path, fmt: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = write_set(tmp_path / "data", n_good=1, n_per_defect=1, size=64)
    code = main(["eval", str(data), "--format", fmt, "--quiet", "--cache", str(tmp_path / "cache"),
                 "--out", str(tmp_path / "m.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert err.startswith(f"genad: DataError: {data} is not a {fmt} folder")
    assert "it looks like mvtec: pass --format mvtec or --format auto" in err


def test_vlm_failures_are_counted_shown_and_scored_again_for_free(tmp_path: Path, loopback_vlm: Any,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from loopback import chat_completion

    data = write_set(tmp_path / "data", n_good=2, n_per_defect=1, size=64)
    monkeypatch.setenv("GENAD_API_KEY", "k")
    broken = (200, chat_completion('{"is_anomalous": '))  # truncated JSON: a ParseError after the re-ask
    loopback_vlm.script(broken, broken)
    args = ["eval", str(data), "--category", "washer", "--mode", "vlm", "--shots", "0", "--model", "m",
            "--base-url", loopback_vlm.url, "--quiet", "--cache", str(tmp_path / "cache"),
            "--out", str(tmp_path / "m.json"), "--report", str(tmp_path / "r.html")]
    assert main(args) == 0
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "m.json").read_text())
    washer = metrics["categories"]["washer"]
    assert (washer["n"], washer["errors"], washer["errors_as"]) == (5, 1, "wrong")
    assert metrics["failures"][0]["error_type"] == "ParseError"
    assert metrics["failures"][0]["count"] == 1
    assert metrics["failures"][0]["example"].startswith("washer/good/000.png: ")
    assert "1 sample(s) failed; failed samples count as wrong answers" in out
    assert "  ParseError × 1, e.g. washer/good/000.png: " in out
    assert "<b>ParseError</b> × 1" in (tmp_path / "r.html").read_text()
    paid = len(loopback_vlm.requests)
    assert paid == 6  # five samples, one re-ask

    assert main(args) == 0  # the failed sample is scored again; its replies come from the reply cache
    out = capsys.readouterr().out
    assert len(loopback_vlm.requests) == paid
    assert "4 of 5 results came from the cache" in out
    assert json.loads((tmp_path / "m.json").read_text())["cached"] == 4
