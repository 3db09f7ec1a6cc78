"""``Detector.detect_many``: many samples, bounded work in flight, ordered results, no lost reports.

Scoring is the same with or without an executor:

1. In local and hybrid mode, when the expert scores a batch jointly (:func:`genad._expert.scores_jointly`:
   always without references, as zero-shot mutual scoring; with references when the expert says so, as the image
   expert does by default), each modality's samples are one batch: they are loaded here and scored
   together by the expert's ``score_many``, as one task on the executor. If that batch fails, its samples are
   scored one by one, each alone, with a note saying so.
2. Every sample then finishes on the executor: :meth:`Detector.detect_scored` for samples scored in step 1,
   :meth:`Detector.detect` for the rest (scored alone, which is the same when the batch is not joint).

A sample that fails becomes a report with ``status="error"`` (or, with ``errors="raise"``, a
:class:`~genad.errors.BatchError` that keeps every finished report).

Tasks carry the detector as a :class:`_Shipped` handle: on a thread pool it is the detector itself, and in a worker
process (a process pool, Dask, Ray) the first task of a ``detect_many`` call unpickles it and the others reuse that
copy, so the experts' state (an ONNX session, a reference bank) is built once per process, not once per task, just
as the threads of the default pool share one detector.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Literal

from genad._expert import ExpertResult, scores_jointly
from genad._registry import load_sample
from genad._report import AnomalyReport
from genad._sample import Sample
from genad._task import Task
from genad.errors import BatchError, ConfigurationError, GenadError

if TYPE_CHECKING:
    from genad._detector import Detector

__all__ = ["detect_many"]


def detect_many(detector: Detector, samples: Iterable[Any], task: Task, *, executor: Executor | None,
                max_in_flight: int, errors: Literal["return", "raise"], progress: bool,
                modality: str | None) -> list[AnomalyReport]:
    """See :meth:`genad.Detector.detect_many`."""
    from tqdm.auto import tqdm

    if errors not in ("return", "raise"):
        raise ConfigurationError(f"errors must be 'return' or 'raise', not {errors!r}")
    if max_in_flight < 1:
        raise ConfigurationError(f"max_in_flight must be at least 1, not {max_in_flight}")
    items = list(samples)
    with_feedback = detector.task_for(None, task)  # each detect() adds the feedback again, minus its own sample
    mode = detector.resolved_mode()
    if mode != "local":
        detector.vlm_client()  # no endpoint: fail before any expert runs
    own = executor is None
    pool: Executor = executor if executor is not None else ThreadPoolExecutor(max_workers=max_in_flight)
    batch = _Batch(detector, items, errors, mode=mode, modality=modality)
    bar = tqdm(total=len(items), disable=not progress, unit="sample")
    try:
        if mode != "vlm":
            batch.score_jointly(pool, tuple(with_feedback.references))
        bar.update(sum(r is not None for r in batch.reports))
        batch.finish(pool, task, with_feedback, max_in_flight, bar.update)
    finally:
        bar.close()
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in batch.reports if r is not None]


class _Batch:
    """The state of one ``detect_many`` call: items, their loaded samples, expert results and reports."""

    def __init__(self, detector: Detector, items: list[Any], errors: str, *, mode: str,
                 modality: str | None) -> None:
        self.detector = detector
        self.shipped = _Shipped(detector)
        self.items = items
        self.errors = errors
        self.mode = mode
        self.modality = modality
        self.reports: list[AnomalyReport | None] = [None] * len(items)
        self.samples: dict[int, Sample] = {}
        self.results: dict[int, ExpertResult] = {}
        self.references: tuple[Sample, ...] = ()  # the loaded references every item in ``results`` was scored with
        self.notes: dict[int, str] = {}

    def fail(self, i: int, exc: BaseException) -> None:
        """Record item ``i``'s failure (or raise :class:`BatchError` with ``errors="raise"``)."""
        source = _source_name(self.items[i])
        self.reports[i] = AnomalyReport.failed(exc, source=source, mode=self.mode)
        if self.errors == "raise":
            raise BatchError(f"sample {source!r} failed: {type(exc).__name__}: {exc}",
                             [r for r in self.reports if r is not None]) from exc

    def score_jointly(self, pool: Executor, references: tuple[Any, ...]) -> None:
        """Load the items and score each modality's samples as one batch, where its expert scores batches with
        ``references`` jointly (see the module doc); with references, only the references' modality is checked,
        and nothing is loaded ahead when its expert scores samples one by one."""
        wanted: str | None = None
        if references:
            try:
                self.references = tuple(load_sample(r, self.modality) for r in references)
            except GenadError:
                return  # each sample's detect() reports the bad reference
            wanted = self.references[0].modality
            if not scores_jointly(self.detector.expert_for(wanted), len(references)):
                return
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            try:
                sample = load_sample(item, self.modality)
            except GenadError as exc:
                self.fail(i, exc)
                continue
            self.samples[i] = sample
            if wanted is None or sample.modality == wanted:
                groups.setdefault(sample.modality, []).append(i)
        for name, idx in groups.items():
            expert = self.detector.expert_for(name)  # an expert that cannot be made fails here, as without one
            if not scores_jointly(expert, len(self.references)):
                continue
            try:
                scored = pool.submit(_score_many, self.shipped, name, [self.samples[i] for i in idx],
                                     self.references).result()
            except GenadError as exc:
                for i in idx:
                    self.notes[i] = (f"scored alone: the batch of {len(idx)} samples failed "
                                     f"({type(exc).__name__}: {exc})")
                continue
            self.results.update(zip(idx, scored, strict=True))

    def finish(self, pool: Executor, task: Task, scored_task: Task, max_in_flight: int,
               advance: Callable[[int], Any]) -> None:
        """Finish every item without a report, at most ``max_in_flight`` at once, in any order: scored items
        with ``scored_task``, the others through ``detect`` with ``task``."""
        pending: Iterator[int] = iter([i for i, r in enumerate(self.reports) if r is None])
        running: dict[Future[AnomalyReport], int] = {}

        def submit_next() -> None:
            i = next(pending, None)
            if i is not None:
                running[self._submit(pool, i, task, scored_task)] = i

        try:
            for _ in range(max_in_flight):
                submit_next()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    i = running.pop(future)
                    try:
                        report = future.result()
                    except Exception as exc:
                        self.fail(i, exc)
                    else:
                        note = self.notes.get(i)
                        self.reports[i] = report.replace(notes=(*report.notes, note)) if note else report
                    advance(1)
                    submit_next()
        except BatchError:
            for future in running:
                future.cancel()
            raise

    def _submit(self, pool: Executor, i: int, task: Task, scored_task: Task) -> Future[AnomalyReport]:
        if i in self.results:
            return pool.submit(_detect_scored, self.shipped, i, self.samples[i], self.references, scored_task,
                               self.results[i])
        return pool.submit(_detect, self.shipped, i, self.samples.get(i, self.items[i]), task, self.modality)


class _Shipped:
    """A detector as tasks carry it: pickled with a token, and unpickled once per process and token.

    ``token`` is new for each ``detect_many`` call. It is also the handle's Dask token (``__dask_tokenize__``), so
    Dask hashes the handle instead of pickling the detector to name each task; the item's position in the call,
    passed with every task, keeps the tasks of equal samples apart.
    """

    def __init__(self, detector: Detector, token: str | None = None) -> None:
        self.detector = detector
        self.token = token or uuid.uuid4().hex

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unship, (self.token, self.detector))

    def __dask_tokenize__(self) -> str:
        return self.token


_SHIPPED: OrderedDict[str, _Shipped] = OrderedDict()
_SHIPPED_LOCK = threading.Lock()
_SHIPPED_KEEP = 4  # detectors of the last few calls kept per process


def _unship(token: str, detector: Detector) -> _Shipped:
    """The process's copy of the detector of call ``token``: the first one unpickled here, kept for the others."""
    with _SHIPPED_LOCK:
        shipped = _SHIPPED.get(token)
        if shipped is None:
            shipped = _SHIPPED[token] = _Shipped(detector, token)
            while len(_SHIPPED) > _SHIPPED_KEEP:
                _SHIPPED.popitem(last=False)
        else:
            _SHIPPED.move_to_end(token)
        return shipped


def _detect(shipped: _Shipped, position: int, item: Any, task: Task, modality: str | None) -> AnomalyReport:
    """Item ``position`` of a call, detected where the executor runs it."""
    return shipped.detector.detect(item, task, modality=modality)


def _detect_scored(shipped: _Shipped, position: int, sample: Sample, references: tuple[Sample, ...], task: Task,
                   result: ExpertResult) -> AnomalyReport:
    """Item ``position`` of a call, already scored in a batch, finished where the executor runs it."""
    return shipped.detector.detect_scored(sample, references, task, result)


def _score_many(shipped: _Shipped, modality: str, samples: list[Sample],
                references: tuple[Sample, ...]) -> list[ExpertResult]:
    """One batch, scored as one batch where the executor runs it."""
    return shipped.detector.expert_for(modality).score_many(samples, references)


def _source_name(item: Any) -> str | None:
    name = getattr(item, "name", None) if hasattr(type(item), "modality") else None
    if isinstance(name, str):
        return name
    return str(item) if isinstance(item, str) or hasattr(item, "__fspath__") else None
