"""Run a :class:`~genad.Detector` over a :class:`~genad.eval._datasets.Dataset`, resumably, and summarise metrics.

Each category's k-shot references are drawn from its normal samples with a fixed seed and left out of scoring
(train-split normals first when the layout has them); items with paired references (a DeepPCB template, a series'
training part) use those instead. NAB follows its own protocol (:func:`protocol_detector`): every file is scored,
causally, with no references. Every per-sample report is written to SQLite (``results.sqlite`` in the cache
folder) the moment it completes, keyed by a hash of the run's settings, so a killed run restarts where it stopped.
Stored failures are scored again on a rerun (unless ``keep_errors``); a missing dependency or a missing endpoint
stops the run before anything is stored. Samples are scored in this process (threads), or on a Dask cluster
(``scheduler``, ``processes``) with the results stored here as they arrive.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import sqlite3
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from copy import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genad import errors as errors_module
from genad import metrics
from genad._expert import scores_jointly
from genad._registry import get_modality
from genad._report import AnomalyReport, Usage
from genad.errors import BackendError, ConfigurationError, GenadError, InputError, MissingDependencyError, install_hint
from genad.eval._bootstrap import Resampled, interval, resample_metrics, timed
from genad.eval._datasets import PROTOCOL_EXPERTS, Dataset, EvalItem

__all__ = [
    "COUNT_KEYS",
    "ERRORS_AS",
    "EvalRecord",
    "ResultStore",
    "Runner",
    "as_wrong",
    "category_metrics",
    "check_components",
    "failure_summary",
    "protocol_detector",
    "score_item",
    "select_references",
    "summarize",
]

NAB_PROTOCOL = "nab: every file, causal series expert, no references"
"""Part of a NAB run's cache key, so that results scored under another protocol are not reused."""
NAB_KEYS = {"standard": "nab_standard", "reward_low_FP_rate": "nab_low_fp", "reward_low_FN_rate": "nab_low_fn"}


@dataclass(frozen=True, eq=False)
class EvalRecord:
    """One scored item and its report.

    Parameters
    ----------
    item
        The scored item.
    report
        Its report.
    references
        The names of the references it was scored against.
    cached
        Whether the report came from the result store, not a new run.
    """

    item: EvalItem
    report: AnomalyReport
    references: tuple[str, ...] = ()
    cached: bool = False

    @property
    def score(self) -> float | None:
        """The report's score, or ``None`` when it failed."""
        return self.report.score if self.report.ok else None


class ResultStore:
    """Per-sample reports in SQLite, one row per ``(run, item)``, written as each completes.

    Parameters
    ----------
    path
        The SQLite file (made on first use, with its folder).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self._db_: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._db_ is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS results (run TEXT, item TEXT, report TEXT NOT NULL, "
                       "anomaly_map BLOB, PRIMARY KEY (run, item))")
            self._db_ = db
        return self._db_

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_db_": None}

    def load(self, run: str) -> dict[str, AnomalyReport]:
        """Every stored report of a run, by item name.

        Parameters
        ----------
        run
            The run's key (:meth:`Runner.run_key`).
        """
        out: dict[str, AnomalyReport] = {}
        for name, text, blob in self._db().execute("SELECT item, report, anomaly_map FROM results WHERE run = ?",
                                                   (run,)):
            report = AnomalyReport.from_json(text)
            if blob is not None:
                report = report.replace(anomaly_map=np.load(io.BytesIO(blob))["map"])
            out[name] = report
        return out

    def save(self, run: str, item: str, report: AnomalyReport) -> None:
        """Store (or replace) the report of one item of a run, its anomaly map as float32."""
        blob = None
        if report.anomaly_map is not None:
            buf = io.BytesIO()
            np.savez_compressed(buf, map=np.asarray(report.anomaly_map, dtype=np.float32))
            blob = buf.getvalue()
        self._db().execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
                           (run, item, report.to_json(indent=None), blob))

    def count(self, run: str) -> int:
        """How many reports of a run are stored."""
        return int(self._db().execute("SELECT COUNT(*) FROM results WHERE run = ?", (run,)).fetchone()[0])

    def close(self) -> None:
        """Close the database connection (it reopens on next use)."""
        if self._db_ is not None:
            self._db_.close()
            self._db_ = None


def check_components(detector: Any, modality: str) -> None:
    """Raise before scoring when a detector cannot run a modality here.

    Parameters
    ----------
    detector
        The detector (anything with ``resolved_mode``; its ``renderers`` and ``experts`` are read if it has them).
    modality
        The modality's name.

    Raises
    ------
    UnsupportedInputError
        For an unknown modality.
    MissingDependencyError
        When a default renderer or expert the mode needs has missing dependencies.
    """
    mode = detector.resolved_mode()
    spec = get_modality(modality)
    spec.check_dependencies("sample")
    if mode in ("vlm", "hybrid") and modality not in (getattr(detector, "renderers", None) or {}):
        spec.check_dependencies("renderer")
    if mode in ("local", "hybrid") and modality not in (getattr(detector, "experts", None) or {}):
        spec.check_dependencies("expert")


def _describe_expert(detector: Any, modality: str) -> str:
    """The class and parameters of the expert ``detector`` uses for ``modality``: attributes holding numbers,
    strings, booleans or tuples and lists of them; fitted state (names ending in ``_``) and objects, whose repr may
    change from process to process, are left out."""
    expert = _expert_of(detector, modality)
    params = sorted((k, v) for k, v in getattr(expert, "__dict__", {}).items() if not k.endswith("_") and _plain(v))
    return f"{type(expert).__module__}.{type(expert).__qualname__}{params!r}"


def _expert_of(detector: Any, modality: str) -> Any:
    """The expert ``detector`` uses for ``modality``: one it was given, else the modality's default."""
    return (getattr(detector, "experts", None) or {}).get(modality) or get_modality(modality).default_expert()


def _plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def protocol_detector(detector: Any, fmt: str) -> Any:
    """The detector a dataset format's protocol calls for.

    That is the detector with the experts the format requires (see :data:`genad.eval._datasets.PROTOCOL_EXPERTS`;
    NAB measures streaming detection, so its series expert is causal), unless the detector already has its own
    expert for that modality.

    Parameters
    ----------
    detector
        The detector; a copy is adapted, the detector itself is not changed.
    fmt
        The dataset's format.
    """
    required = PROTOCOL_EXPERTS.get(fmt, {})
    experts = getattr(detector, "experts", None) or {}
    missing = {m: make() for m, make in required.items() if m not in experts}
    if not missing or not hasattr(detector, "experts"):
        return detector
    adapted = copy(detector)
    adapted.experts = {**experts, **missing}
    return adapted


def select_references(items: Sequence[EvalItem], shots: int, seed: int) -> tuple[list[EvalItem], list[EvalItem]]:
    """Split one category into k-shot references and items to score.

    References are normal items drawn from the train split when there is one, else from the normal test items
    (which then leave scoring). Train-split items are never scored.

    Parameters
    ----------
    items
        The category's items.
    shots
        How many references to draw.
    seed
        Seeds the draw (``numpy.random.default_rng(seed)``).

    Returns
    -------
    tuple of list
        The references and the items to score.
    """
    train = [it for it in items if it.split == "train" and it.label == 0]
    test = [it for it in items if it.split != "train"]
    pool = train or [it for it in test if it.label == 0]
    if shots <= 0 or not pool:
        return [], test
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(pool), size=min(shots, len(pool)), replace=False).tolist())
    refs = [pool[i] for i in chosen]
    ref_ids = {id(r) for r in refs}
    return refs, [it for it in test if id(it) not in ref_ids]


def _limit(items: list[EvalItem], limit: int | None, seed: int) -> list[EvalItem]:
    if limit is None or len(items) <= limit:
        return items
    keep = np.random.default_rng(seed).permutation(len(items))[:limit]
    return [items[i] for i in sorted(keep.tolist())]


@dataclass
class Runner:
    """Scores every item of a dataset with ``detector`` (anything with ``detect`` and ``resolved_mode``).

    Parameters
    ----------
    detector
        What scores each sample, usually a :class:`~genad.Detector`; it must pickle to run on Dask.
    shots, seed
        Normal references per sample (k-shot) and the seed of their draw and of ``limit``.
    cache_dir
        The folder of ``results.sqlite``; without it nothing is stored.
    limit
        At most this many scored items per category (a seeded random subset).
    workers
        Samples scored at once in each process, in threads (VLM calls overlap); on a local Dask cluster, the
        threads of each worker process.
    scheduler
        The address of a running Dask scheduler (``"tcp://host:port"``) or a ``dask.distributed.Client``: the
        samples are scored by its workers, which must read the dataset's paths.
    processes
        Without ``scheduler``: start a local Dask cluster of this many worker processes for the run (0: none).
    keep_errors
        Serve stored failures (``status="error"`` reports) from the store instead of scoring those samples again.
    zero_shot
        ``"batch"`` (default) scores each category's samples together where the expert compares them with each
        other (``Detector.detect_many``): with ``shots=0``, mutual scoring (what the benchmarks call zero-shot);
        with references, where the expert scores such batches jointly (the image expert,
        ``ImageExpert(batch_context=True)``, the default). ``"alone"`` scores each sample by itself (with its
        references).
    progress
        Show a progress bar.
    on_result
        Called after each item with its record and whether it came from the store.

    Notes
    -----
    Results are stored in this process in completion order, whatever runs the samples, so the store and the
    resume rules are the same in-process and on Dask. A failure that is not the sample's (a backend error, a
    missing dependency, a missing endpoint) stops the run; what completed stays stored.
    """

    detector: Any
    shots: int = 0
    seed: int = 0
    cache_dir: str | Path | None = None
    limit: int | None = None
    workers: int = 1
    scheduler: Any = None
    processes: int = 0
    keep_errors: bool = False
    zero_shot: Literal["batch", "alone"] = "batch"
    progress: bool = True
    on_result: Callable[[EvalRecord, bool], None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.shots < 0:
            raise InputError(f"shots must be 0 or more, got {self.shots}")
        if self.workers < 1:
            raise InputError(f"workers must be at least 1, got {self.workers}")
        if self.processes < 0:
            raise InputError(f"processes must be 0 or more, got {self.processes}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"limit must be at least 1, got {self.limit}")
        if self.zero_shot not in ("batch", "alone"):
            raise InputError(f"zero_shot must be 'batch' or 'alone', not {self.zero_shot!r}")

    def run_key(self, dataset: Dataset) -> str:
        """A hash of what decides each sample's result, the result store's key of the run.

        It covers the data root and format, mode, model, shots, seed, the genad version and, in local and hybrid
        mode, each expert's class and parameters.
        """
        from genad import __version__

        client = getattr(self.detector, "client", None)
        model = getattr(client, "model", None)
        prompt = getattr(getattr(self.detector, "prompt", None), "name", None)
        mode = self.detector.resolved_mode()
        settings = [str(Path(dataset.root).resolve()), dataset.format, mode, model, prompt, self.shots, self.seed,
                    __version__]
        if self.batches(dataset):
            settings.append("zero-shot batch" if self.shots == 0 else "joint batch")
        if mode in ("local", "hybrid"):
            settings += [_describe_expert(self.detector, m) for m in sorted({it.modality for it in dataset})]
        if dataset.format == "nab":
            settings.append(NAB_PROTOCOL)
        return hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()[:16]

    def plan(self, dataset: Dataset) -> list[tuple[EvalItem, tuple[Any, ...], tuple[str, ...]]]:
        """Every item to score with its references (objects to pass, and their names for the record).

        NAB scores every file with no references, whatever ``shots`` says.
        """
        planned = []
        shots = 0 if dataset.format == "nab" else self.shots
        for category in dataset.categories:
            refs, scored = select_references(dataset.category(category), shots, self.seed)
            for item in _limit(scored, self.limit, self.seed):
                if shots > 0 and item.references:
                    objs = tuple(item.references[: shots])
                    names = tuple(r if isinstance(r, str) else f"{item.name}#reference" for r in objs)
                else:
                    objs = tuple(r.sample for r in refs)
                    names = tuple(r.name for r in refs)
                planned.append((item, objs, names))
        return planned

    def run(self, dataset: Dataset) -> list[EvalRecord]:
        """Score the dataset, one record per scored item.

        Already stored items are loaded, not rescored (stored failures are rescored unless ``keep_errors``).
        Backend failures, missing dependencies and a missing endpoint stop the run (what completed stays stored);
        other per-sample errors are stored as ``status="error"`` reports.
        """
        from tqdm import tqdm

        for modality in sorted({it.modality for it in dataset}):
            check_components(self.detector, modality)
        planned = self.plan(dataset)
        detector = protocol_detector(self.detector, dataset.format)
        key = self.run_key(dataset)
        store = ResultStore(Path(self.cache_dir) / "results.sqlite") if self.cache_dir is not None else None
        done = store.load(key) if store is not None else {}
        records: dict[int, EvalRecord] = {}
        spent = Usage()
        bar = tqdm(total=len(planned), disable=not self.progress, unit="sample", dynamic_ncols=True,
                   desc=f"{dataset.format} {self.detector.resolved_mode()}")

        def finish(i: int, report: AnomalyReport, stored: bool) -> None:
            nonlocal spent
            item, _, ref_names = planned[i]
            if not stored:
                if store is not None:
                    store.save(key, item.name, report)
                spent = spent + report.usage
            records[i] = EvalRecord(item, report, ref_names, cached=stored)
            if self.on_result is not None:
                self.on_result(records[i], stored)
            bar.set_postfix_str(f"tokens={spent.total_tokens} requests={spent.requests}", refresh=False)
            bar.update(1)

        todo = []
        for i, (item, _, _) in enumerate(planned):
            stored_report = done.get(item.name)
            if stored_report is not None and (stored_report.ok or self.keep_errors):
                finish(i, stored_report, True)
            else:
                todo.append(i)
        jobs = self._jobs(planned, todo, self.batches(dataset))
        results: Generator[tuple[int, AnomalyReport], None, None]
        if self.scheduler is not None or self.processes > 0:
            results = self._on_dask(detector, jobs)
        elif self.workers > 1:
            results = self._in_threads(detector, jobs)
        else:
            results = ((i, report) for job in jobs for i, report in zip(job[0], score_job(detector, *job[1:]),
                                                                          strict=True))
        try:
            for i, report in results:
                finish(i, _float32_map(report), False)
        finally:
            results.close()  # cancels what has not started, shuts a cluster of ours down
            bar.close()
            if store is not None:
                store.close()
        return [records[i] for i in sorted(records)]

    def batches(self, dataset: Dataset) -> bool:
        """Whether each category's samples are scored as one batch: in local and hybrid mode with
        ``zero_shot="batch"``, zero-shot, and with references where the expert scores such batches jointly (NAB
        scores files alone)."""
        mode = self.detector.resolved_mode()
        if mode == "vlm" or dataset.format == "nab" or self.zero_shot == "alone":
            return False
        if self.shots == 0:
            return True
        return any(scores_jointly(_expert_of(self.detector, m), self.shots) for m in {it.modality for it in dataset})

    @staticmethod
    def _jobs(planned: list[tuple[EvalItem, tuple[Any, ...], tuple[str, ...]]], todo: list[int],
              batches: bool) -> list[Job]:
        """One job per sample to score; with ``batches``, one job per category with a sample to score, holding
        all of the category's samples that share its references (a batch's scores depend on every member, so it
        is scored whole); a sample with references of its own stays a job of its own."""
        single = [i for i in todo if not batches or planned[i][0].references]
        jobs: list[Job] = [((i,), (planned[i][0],), planned[i][1]) for i in single]
        if not batches:
            return jobs
        for category in sorted({planned[i][0].category for i in todo if i not in single}):
            members = tuple(i for i, (item, _, _) in enumerate(planned)
                            if item.category == category and not item.references)
            jobs.append((members, tuple(planned[i][0] for i in members), planned[members[0]][1]))
        return jobs

    def _in_threads(self, detector: Any, jobs: list[Job]) -> Generator[tuple[int, AnomalyReport], None, None]:
        with ThreadPoolExecutor(self.workers) as pool:
            futures = {pool.submit(score_job, detector, items, refs): members for members, items, refs in jobs}
            try:
                for future in as_completed(futures):
                    yield from zip(futures[future], future.result(), strict=True)
            finally:
                for future in futures:
                    future.cancel()

    def _on_dask(self, detector: Any, jobs: list[Job]) -> Generator[tuple[int, AnomalyReport], None, None]:
        """Score ``jobs`` on a Dask cluster: the detector is sent to every worker once, each sample is one task,
        and the reports come back here in completion order."""
        try:
            from distributed import Client, LocalCluster
            from distributed import as_completed as dask_completed
        except ImportError:
            raise MissingDependencyError(f"scoring on Dask needs dask.distributed: {install_hint('dask')}") from None
        if not jobs:
            return
        cluster = None
        client: Any
        if self.scheduler is None:
            # on this machine only; its dashboard on a free port (the default 8787 may be taken)
            cluster = LocalCluster(n_workers=self.processes, threads_per_worker=self.workers, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = Client(cluster)
        elif isinstance(self.scheduler, str):
            try:
                client = Client(self.scheduler)  # timeout: dask config distributed.comm.timeouts.connect
            except (OSError, TimeoutError) as exc:
                raise ConfigurationError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
        else:
            client = self.scheduler
        futures: dict[Any, tuple[int, ...]] = {}
        try:
            remote = client.scatter(detector, broadcast=True, hash=False)
            for members, items, refs in jobs:
                futures[client.submit(score_job, remote, items, refs, pure=False)] = members
            for future in dask_completed(list(futures)):
                members = futures.pop(future)
                yield from zip(members, future.result(), strict=True)
                future.release()
        finally:
            if futures:
                client.cancel(list(futures))
            if client is not self.scheduler:
                client.close()
            if cluster is not None:
                cluster.close()


Job = tuple[tuple[int, ...], tuple[EvalItem, ...], tuple[Any, ...]]
"""Positions in the plan, their items and the references: one sample, or a batch of a category."""
_NOT_THE_SAMPLES = (BackendError, ConfigurationError)


def score_job(detector: Any, items: tuple[EvalItem, ...], refs: tuple[Any, ...]) -> list[AnomalyReport]:
    """The reports of one job: one sample, or a batch.

    One sample is scored by :func:`score_item`; a batch by ``detect_many`` over the items (one category, one
    modality) with ``refs``, so the expert scores them together. A batch member's backend or configuration error
    is raised, as :func:`score_item` does.

    Parameters
    ----------
    detector
        What scores the samples.
    items
        The job's items.
    refs
        The references to pass (shared by a batch's items).
    """
    if len(items) == 1 and refs:
        return [score_item(detector, items[0], refs)]
    if len(items) == 1 or not hasattr(detector, "detect_many"):
        return [score_item(detector, item, refs) for item in items]
    first = items[0]
    reports = detector.detect_many([it.sample for it in items], category=first.category, references=refs,
                                   modality=first.modality, progress=False, errors="return")
    out = []
    for item, report in zip(items, reports, strict=True):
        error = getattr(errors_module, report.error_type or "", None)
        if not report.ok and isinstance(error, type) and issubclass(error, _NOT_THE_SAMPLES):
            raise error(report.error or "")
        out.append(report if report.ok else report.replace(modality=item.modality, source=item.name))
    return out


def score_item(detector: Any, item: EvalItem, refs: tuple[Any, ...]) -> AnomalyReport:
    """A detector's report on one item.

    A failure of the sample (unreadable input, unparseable reply) becomes a ``status="error"`` report.

    Parameters
    ----------
    detector
        What scores the sample (anything with ``detect`` and ``resolved_mode``).
    item
        The item.
    refs
        The references to pass.

    Raises
    ------
    BackendError, ConfigurationError
        Backend and configuration errors (a missing dependency or endpoint): they are not the sample's fault and
        must not be stored as its result.
    """
    try:
        return detector.detect(item.sample, category=item.category, references=refs, modality=item.modality)
    except (BackendError, ConfigurationError):
        raise
    except GenadError as exc:
        return AnomalyReport.failed(exc, modality=item.modality, source=item.name, mode=detector.resolved_mode())


def _float32_map(report: AnomalyReport) -> AnomalyReport:
    """The report with its anomaly map as float32, exactly as the store gives it back on resume."""
    if report.anomaly_map is None or report.anomaly_map.dtype == np.float32:
        return report
    return report.replace(anomaly_map=np.asarray(report.anomaly_map, dtype=np.float32))


# ---------------------------------------------------------------- metrics per category

ERRORS_AS = {
    "wrong": "failed samples count as wrong answers: an anomalous one as said normal with score 0, a normal one as "
             "said anomalous with score 1, with nothing located",
    "skip": "failed samples are left out of the metrics",
}
"""What ``summarize(errors=...)`` does with the samples whose report has ``status="error"``."""
COUNT_KEYS = ("n", "n_anomalous", "errors", "errors_as", "ci")
"""Keys of a category block that are not metrics."""


def _nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _nab(records: list[EvalRecord]) -> dict[str, float]:
    from genad.eval._nab import NabFile, nab_scores

    files = [NabFile(r.item.name, metrics.dense_scores(r.report, r.item.length), r.item.windows) for r in records]
    if not files or not any(f.windows for f in files):
        return {}
    return {NAB_KEYS[name]: score.normalized for name, score in nab_scores(files).items()}


def category_metrics(fmt: str, records: list[EvalRecord]) -> dict[str, float]:
    """The metrics that apply to one category's scored (non-error) records.

    They are its modality's, plus the NAB scores for NAB files.

    Parameters
    ----------
    fmt
        The dataset's format.
    records
        The category's scored records.
    """
    out = get_modality(records[0].item.modality).metrics(records)
    if fmt == "nab":
        out.update(_nab(records))
    return out


def as_wrong(record: EvalRecord) -> EvalRecord:
    """A failed record as a wrong answer.

    An anomalous sample is said normal with score 0, a normal one anomalous with score 1; no map and no region,
    so nothing is located.

    Parameters
    ----------
    record
        The failed record.
    """
    label = int(record.item.label)
    report = AnomalyReport(is_anomalous=not label, score=float(1 - label), modality=record.item.modality,
                           source=record.item.name, mode=record.report.mode, model=record.report.model,
                           usage=record.report.usage,
                           notes=(f"{record.report.error_type}: counted as a wrong answer",))
    return replace(record, report=report)


def failure_summary(records: Sequence[EvalRecord], width: int = 240) -> list[dict[str, Any]]:
    """The failed records grouped by error type, most frequent first.

    Parameters
    ----------
    records
        The records; those with a score are skipped.
    width
        The longest example, in characters.

    Returns
    -------
    list of dict
        Per group: ``error_type``, ``count`` and an ``example`` (the first such sample's name and message, cut to
        ``width`` characters).
    """
    groups: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.report.ok and r.report.score is not None:
            continue
        kind = r.report.error_type or ("no score" if r.report.ok else "error")
        group = groups.setdefault(kind, {"error_type": kind, "count": 0, "example": ""})
        if not group["count"]:
            message = " ".join(str(r.report.error or "the report has no score").split())
            example = f"{r.item.name}: {message}"
            group["example"] = example if len(example) <= width else example[: width - 1] + "…"
        group["count"] += 1
    return sorted(groups.values(), key=lambda g: (-g["count"], g["error_type"]))


def summarize(dataset: Dataset, records: list[EvalRecord], *, mode: str, shots: int, errors: str = "wrong",
              ci_resamples: int = 200, confidence: float = 0.95, seed: int = 0,
              progress: bool = False) -> dict[str, Any]:
    """The metrics.json document: per-category metrics with counts and intervals, and their mean over categories.

    Parameters
    ----------
    dataset, records
        The dataset and the records :meth:`Runner.run` returned for it.
    mode, shots
        Reported as they are (NAB's protocol reports 0 shots).
    errors
        ``"wrong"``: failed samples count as wrong answers (see :func:`as_wrong`); ``"skip"``: they are left
        out of the metrics. Either way each block counts them in ``errors``.
    ci_resamples, confidence, seed
        Bootstrap intervals (``ci`` beside each metric block, ``mean_ci`` for the mean): ``ci_resamples``
        stratified resamples of each category's records (0: none), percentile intervals at ``confidence``
        (see :mod:`genad.eval._bootstrap`).
    progress
        Show a progress bar over the categories.

    Notes
    -----
    NAB scores in ``mean`` are the corpus score over all files (thresholds optimised on the whole corpus, as NAB
    does), not a mean of per-category scores, and have no interval. Each modality's
    :meth:`~genad.Modality.pooled_metrics` over all categories at once (video: ``frame_auroc_pooled``, every frame
    of every clip) join ``mean`` too.
    """
    from tqdm import tqdm

    if errors not in ERRORS_AS:
        raise InputError(f"errors must be one of {sorted(ERRORS_AS)}, not {errors!r}")
    categories: dict[str, dict[str, Any]] = {}
    collected: dict[str, list[float]] = {}
    resampled: dict[str, Resampled] = {}
    counted: list[EvalRecord] = []
    names = dataset.categories
    for category in tqdm(names, disable=not progress or not names, unit="category", desc="metrics",
                         dynamic_ncols=True):
        recs = [r for r in records if r.item.category == category]
        ok = [r for r in recs if r.report.ok and r.report.score is not None]
        failed = [r for r in recs if not (r.report.ok and r.report.score is not None)]
        block: dict[str, Any] = {"n": len(recs), "n_anomalous": sum(r.item.label for r in recs),
                                 "errors": len(failed)}
        scored = ok + [as_wrong(r) for r in failed] if errors == "wrong" else ok
        if failed:
            block["errors_as"] = errors
        if scored:
            spec = get_modality(scored[0].item.modality)
            try:
                values, seconds = timed(spec.metrics, scored)
            except (GenadError, OSError):
                if len(scored) == len(ok):
                    raise
                # the ground truth of a failed sample cannot be read either (a corrupt file): leave it out
                scored, block["errors_as"] = ok, "skip"
                values, seconds = timed(spec.metrics, scored) if ok else ({}, 0.0)
            own = dict(values)
            if dataset.format == "nab" and scored:
                values = {**values, **_nab(scored)}
            counted += scored
            for k, v in values.items():
                block[k] = _nan_to_none(v)
                if block[k] is not None:
                    collected.setdefault(k, []).append(v)
            if ci_resamples > 0 and own:
                found = resample_metrics(spec.metrics, scored, own, seconds, n_resamples=ci_resamples, seed=seed)
                resampled[category] = found
                ci = {k: list(iv) for k in own if (iv := found.interval(k, confidence)) is not None}
                if ci:
                    block["ci"] = ci
        categories[category] = block
    mean = {k: float(np.mean(v)) for k, v in collected.items()}
    if dataset.format == "nab":
        mean.update(_nab(counted))
    for name in sorted({r.item.modality for r in counted}):
        pooled = get_modality(name).pooled_metrics([r for r in counted if r.item.modality == name])
        mean.update({k: float(v) for k, v in pooled.items() if np.isfinite(v)})
    ordered = {k: mean[k] for k in dict.fromkeys(k for block in categories.values() for k in block) if k in mean}
    ordered.update({k: v for k, v in mean.items() if k not in ordered})
    usage = sum((r.report.usage for r in records), Usage())
    skipped = {c: found.skipped for c, found in resampled.items() if found.skipped}
    return {
        "dataset": str(dataset.root), "format": dataset.format, "mode": mode,
        "shots": 0 if dataset.format == "nab" else shots,  # NAB's protocol uses no references
        "categories": categories, "mean": ordered,
        "mean_ci": _mean_intervals(categories, resampled, ordered, confidence),
        "intervals": {"confidence": confidence, "resamples": ci_resamples,
                      "method": "percentile bootstrap: the samples of each category resampled with replacement "
                                "within each label; for the mean, each category resampled on its own",
                      "skipped": skipped},
        "errors": sum(block["errors"] for block in categories.values()),
        "errors_as": errors, "failures": failure_summary(records),
        "cached": sum(1 for r in records if r.cached),
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "requests": usage.requests},
    }


def _mean_intervals(categories: dict[str, dict[str, Any]], resampled: dict[str, Resampled], mean: dict[str, float],
                    confidence: float) -> dict[str, list[float]]:
    """Intervals of the mean over categories: resample ``b`` of the mean is the mean of each category's resample
    ``b``; a metric gets one only when every category in its mean has resamples of it."""
    out: dict[str, list[float]] = {}
    for key in mean:
        used = [c for c, block in categories.items() if block.get(key) is not None]
        arrays = [resampled[c].values.get(key) if c in resampled else None for c in used]
        if not used or any(a is None for a in arrays):
            continue
        stacked = np.vstack([a for a in arrays if a is not None])
        with np.errstate(invalid="ignore"):
            means = np.where(np.isfinite(stacked).all(axis=0), stacked.mean(axis=0), np.nan)
        found = interval(means, confidence)
        if found is not None:
            out[key] = list(found)
    return out
