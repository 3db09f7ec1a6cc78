"""Resumable runs: the result store, the reply cache, and a real ``genad eval`` killed with SIGKILL and rerun."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from genad import AnomalyReport, CachedClient, Message, ModalityBase, Usage
from genad.errors import (
    BackendConnectionError,
    ConfigurationError,
    InputError,
    MissingDependencyError,
    ParseError,
    UnsupportedInputError,
)
from genad.eval._datasets import read_dataset
from genad.eval._runner import EvalRecord, Runner, check_components, select_references, summarize
from genad.testing import ScriptedClient


def _write_images(root: Path, n_good: int, n_bad: int) -> Path:
    rng = np.random.default_rng(0)
    for folder, n in (("good", n_good), ("scratch", n_bad)):
        (root / "widget" / folder).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            cv2.imwrite(str(root / "widget" / folder / f"{i:03d}.png"), image)
    return root


@dataclass
class CountingDetector:
    """Scores each sample by its file name; counts calls; fails with ``fail_with`` at call ``fail_at``."""

    fail_at: int | None = None
    fail_with: Exception = field(default_factory=lambda: BackendConnectionError("endpoint down"))
    calls: list[str] = field(default_factory=list)
    client: Any = None
    prompt: Any = None
    renderers: Any = None
    experts: Any = None

    def resolved_mode(self) -> str:
        return "vlm"

    def detect(self, sample: Any, *, category: str | None = None, references: Any = (),
               modality: str | None = None) -> AnomalyReport:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            self.calls.append(str(sample))
            raise self.fail_with
        self.calls.append(str(sample))
        score = 0.9 if "scratch" in str(sample) else 0.1
        amap = score * np.sin(np.arange(256.0) * len(self.calls)).reshape(16, 16) ** 2  # float64
        return AnomalyReport(score >= 0.5, score, modality="image", usage=Usage(10, 2, 1), anomaly_map=amap)


def test_runner_resumes_after_a_backend_failure(tmp_path: Path) -> None:
    ds = read_dataset(_write_images(tmp_path / "data", 6, 6))
    crashing = CountingDetector(fail_at=5)
    with pytest.raises(BackendConnectionError):
        Runner(crashing, shots=2, cache_dir=tmp_path / "cache", progress=False).run(ds)
    resumed = CountingDetector()
    records = Runner(resumed, shots=2, cache_dir=tmp_path / "cache", progress=False).run(ds)
    assert len(records) == 10  # 12 items minus 2 references
    assert len(resumed.calls) == 5  # only the ones not stored before the failure
    assert sorted(crashing.calls[:5] + resumed.calls) == sorted(str(r.item.sample) for r in records)
    summary = summarize(ds, records, mode="vlm", shots=2)
    assert summary["categories"]["widget"]["image_auroc"] == 1.0
    assert summary["usage"]["requests"] == 10


def test_parallel_workers_store_each_sample_once(tmp_path: Path) -> None:
    ds = read_dataset(_write_images(tmp_path / "data", 10, 10))
    crashing = CountingDetector(fail_at=7)
    with pytest.raises(BackendConnectionError):
        Runner(crashing, cache_dir=tmp_path / "cache", workers=3, progress=False).run(ds)
    with sqlite3.connect(tmp_path / "cache" / "results.sqlite") as db:
        stored = {name for (name,) in db.execute("SELECT item FROM results")}
    resumed = CountingDetector()
    records = Runner(resumed, cache_dir=tmp_path / "cache", workers=3, progress=False).run(ds)
    assert [r.item.name for r in records] == [it.name for it in ds.items]  # dataset order, not completion order
    rescored = {Path(c).relative_to(tmp_path / "data").as_posix() for c in resumed.calls}
    assert not rescored & stored
    assert len(rescored) + len(stored) == 20


def test_resumed_metrics_equal_fresh_metrics(tmp_path: Path) -> None:
    root = _write_images(tmp_path / "data", 4, 4)
    for i in range(4):
        (root / "widget" / "ground_truth" / "scratch").mkdir(parents=True, exist_ok=True)
        mask = np.zeros((16, 16), np.uint8)
        mask[4:9, 3:7] = 255
        cv2.imwrite(str(root / "widget" / "ground_truth" / "scratch" / f"{i:03d}_mask.png"), mask)
    ds = read_dataset(root)
    fresh = Runner(CountingDetector(), cache_dir=tmp_path / "cache", progress=False).run(ds)
    loaded = Runner(CountingDetector(), cache_dir=tmp_path / "cache", progress=False).run(ds)
    first, second = (summarize(ds, r, mode="vlm", shots=0) for r in (fresh, loaded))
    assert "aupro" in first["mean"]
    assert (first.pop("cached"), second.pop("cached")) == (0, 8)  # the second run came from the store
    assert first == second


def test_stored_errors_are_scored_again_unless_kept(tmp_path: Path) -> None:
    ds = read_dataset(_write_images(tmp_path / "data", 2, 2))
    first = CountingDetector(fail_at=0, fail_with=ParseError("no JSON"))
    Runner(first, cache_dir=tmp_path / "cache", progress=False).run(ds)
    kept = CountingDetector()
    records = Runner(kept, cache_dir=tmp_path / "cache", keep_errors=True, progress=False).run(ds)
    assert kept.calls == []
    assert [r.report.status for r in records].count("error") == 1
    assert all(r.cached for r in records)
    summary = summarize(ds, records, mode="vlm", shots=0)
    assert summary["categories"]["widget"]["errors"] == 1
    assert summary["failures"] == [{"error_type": "ParseError", "count": 1,
                                    "example": f"{records[0].item.name}: no JSON"}]
    assert summary["cached"] == 4
    again = CountingDetector()
    records = Runner(again, cache_dir=tmp_path / "cache", progress=False).run(ds)
    assert again.calls == [first.calls[0]]  # only the failed sample is scored again
    assert all(r.report.ok for r in records)
    assert [r.cached for r in records] == [False, True, True, True]
    assert summarize(ds, records, mode="vlm", shots=0)["failures"] == []
    with sqlite3.connect(tmp_path / "cache" / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 4  # replaced, not added


@pytest.mark.parametrize("error", [MissingDependencyError("needs onnxruntime: pip install \"genad[image]\""),
                                   ConfigurationError("no VLM endpoint is configured")])
def test_configuration_errors_stop_the_run_and_are_not_stored(tmp_path: Path, error: Exception) -> None:
    ds = read_dataset(_write_images(tmp_path / "data", 3, 3))
    with pytest.raises(type(error)):
        Runner(CountingDetector(fail_at=2, fail_with=error), cache_dir=tmp_path / "cache", progress=False).run(ds)
    with sqlite3.connect(tmp_path / "cache" / "results.sqlite") as db:
        rows = db.execute("SELECT report FROM results").fetchall()
    assert len(rows) == 2  # the two before the failure; the failure itself is not a result
    assert all(json.loads(text)["status"] == "ok" for (text,) in rows)
    after_fix = CountingDetector()
    records = Runner(after_fix, cache_dir=tmp_path / "cache", progress=False).run(ds)
    assert len(after_fix.calls) == 4
    assert all(r.report.ok for r in records)


def test_runner_settings_are_validated() -> None:
    for bad in ({"shots": -1}, {"workers": 0}, {"processes": -2}, {"limit": 0}):
        with pytest.raises(InputError):
            Runner(CountingDetector(), **bad)  # type: ignore[arg-type]


def test_references_are_seeded_and_left_out(tmp_path: Path) -> None:
    ds = read_dataset(_write_images(tmp_path / "data", 8, 3))
    refs, scored = select_references(ds.items, 3, seed=7)
    again, _ = select_references(ds.items, 3, seed=7)
    assert [r.name for r in refs] == [r.name for r in again]
    assert all(r.label == 0 for r in refs)
    assert not {r.name for r in refs} & {s.name for s in scored}
    assert len(scored) == 8
    other, _ = select_references(ds.items, 3, seed=8)
    assert [r.name for r in other] != [r.name for r in refs]
    limited = Runner(CountingDetector(), shots=3, seed=7, limit=4, progress=False).plan(ds)
    assert len(limited) == 4


class _NoExpertHere(ModalityBase):
    name, suffixes = "no_expert_here", (".nxh",)

    def check_dependencies(self, component: str) -> None:
        if component == "expert":
            raise MissingDependencyError("the no_expert_here expert needs the module not_written_yet")


def test_missing_expert_is_a_typed_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from genad import _registry

    _registry.modality_names()
    monkeypatch.setitem(_registry._modalities, "no_expert_here", _NoExpertHere())
    local = CountingDetector()
    local.resolved_mode = lambda: "local"  # type: ignore[method-assign]
    with pytest.raises(MissingDependencyError, match="not_written_yet"):
        check_components(local, "no_expert_here")
    check_components(CountingDetector(), "no_expert_here")  # vlm mode does not need the expert
    with pytest.raises(UnsupportedInputError, match="unknown modality"):
        check_components(CountingDetector(), "nothing_of_that_name")


def test_cached_client_returns_stored_replies_unpaid(tmp_path: Path) -> None:
    scripted = ScriptedClient([{"is_anomalous": True, "score": 0.8}])
    cached = CachedClient(scripted, tmp_path / "replies.sqlite")
    messages = [Message("user", ("is this normal?",))]
    first = cached.complete(messages, {"type": "object"})
    assert not first.cached
    assert first.usage.prompt_tokens > 0
    reopened = pickle.loads(pickle.dumps(cached))
    second = reopened.complete(messages, {"type": "object"})
    assert second.cached
    assert second.usage == Usage()
    assert second.data == {"is_anomalous": True, "score": 0.8}
    assert len(scripted.calls) == 1
    assert (cached.misses_, reopened.hits_, len(reopened)) == (1, 1, 1)
    with pytest.raises(AssertionError, match="ran out"):
        reopened.complete(messages, {"type": "array"})  # another schema is another request


def _request_key(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request["messages"], sort_keys=True).encode()).hexdigest()


@pytest.mark.slow
def test_sigkilled_eval_resumes_without_repeating_a_request(tmp_path: Path) -> None:
    from loopback import LoopbackVLM, Scripted, answer_json, chat_completion

    data = _write_images(tmp_path / "data", 100, 100)
    kill_after = 80
    answered: list[str] = []
    lock = threading.Lock()
    held, release = threading.Event(), threading.Event()

    def responder(request: dict[str, Any]) -> Any:
        key = _request_key(request)
        with lock:
            hold = not held.is_set() and len(answered) == kill_after
            if hold:
                held.set()
        if hold:  # keep request 81 open until the client is killed; it is never answered
            release.wait(30)
            return Scripted(drop=True)
        score = int(key[:2], 16) / 255
        with lock:
            answered.append(key)
        return 200, chat_completion(answer_json(score > 0.5, round(score, 3)))

    cmd = [sys.executable, "-m", "genad", "eval", str(data), "--mode", "vlm", "--shots", "0", "--quiet",
           "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "metrics.json")]
    with LoopbackVLM(responder) as server:
        env = {**os.environ, "GENAD_BASE_URL": server.url, "GENAD_MODEL": "loopback-model", "GENAD_API_KEY": "k"}
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert held.wait(120), "the first run never reached request 81"
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        finally:
            release.set()
            if first.poll() is None:
                first.kill()
        assert first.returncode == -signal.SIGKILL
        with sqlite3.connect(tmp_path / "cache" / "results.sqlite") as db:
            stored_before = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        assert stored_before == kill_after
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert second.returncode == 0, second.stderr[-2000:]

    assert len(answered) == 200
    assert len(set(answered)) == 200  # no answered (paid) request was ever sent twice
    with sqlite3.connect(tmp_path / "cache" / "results.sqlite") as db:
        rows = db.execute("SELECT item, COUNT(*) FROM results GROUP BY item").fetchall()
    assert len(rows) == 200
    assert {count for _, count in rows} == {1}
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["categories"]["widget"]["n"] == 200
    assert metrics["categories"]["widget"]["errors"] == 0
    assert metrics["usage"]["requests"] == 200
    assert "image_auroc" in metrics["mean"]


def test_pixel_metrics_run_on_downsized_masks(tmp_path: Path) -> None:
    root = tmp_path / "data"
    mask = np.zeros((600, 400), np.uint8)
    mask[100:220, 50:170] = 255
    for folder in ("good", "dent"):
        (root / "part" / folder).mkdir(parents=True)
        cv2.imwrite(str(root / "part" / folder / "0.png"), np.zeros((600, 400, 3), np.uint8))
    (root / "part" / "ground_truth" / "dent").mkdir(parents=True)
    cv2.imwrite(str(root / "part" / "ground_truth" / "dent" / "0_mask.png"), mask)
    ds = read_dataset(root)
    records = [EvalRecord(it, AnomalyReport(bool(it.label), float(it.label), modality="image",
                                            anomaly_map=(mask > 0).astype(np.float32) * it.label)) for it in ds]
    mean = summarize(ds, records, mode="local", shots=0)["mean"]
    assert mean["pixel_auroc"] == 1.0
    assert mean["aupro"] == pytest.approx(1.0)


def test_run_key_follows_the_expert_and_its_parameters(tmp_path: Path) -> None:
    from genad import Detector
    from genad.modalities.image import ImageExpert

    dataset = read_dataset(_write_images(tmp_path / "data", 2, 1))

    def key(**params: Any) -> str:
        detector = Detector(mode="local", experts={"image": ImageExpert(**params)} if params else None)
        return Runner(detector).run_key(dataset)

    assert key() == key(resolution=224)  # the default expert, described by its parameters
    assert key(resolution=256) != key()
    assert key(border_weight=1.0) != key()
    expert = ImageExpert()
    vars(expert)["features_"] = object()  # fitted state does not count
    assert Runner(Detector(mode="local", experts={"image": expert})).run_key(dataset) == key()
