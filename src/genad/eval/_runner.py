"""Run a :class:`~genad.Detector` over a :class:`~genad.eval._datasets.Dataset`, resumably, and summarise metrics.

Each category's k-shot references are drawn from its normal samples with a fixed seed and left out of scoring
(train-split normals first when the layout has them); items with paired references (a DeepPCB template, a series'
training part) use those instead. NAB follows its own protocol (:func:`protocol_detector`): every file is scored,
causally, with no references. Every per-sample report is written to SQLite (``results.sqlite`` in the cache
folder) the moment it completes, keyed by a hash of the run's settings, so a killed run restarts where it stopped.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from copy import copy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from genad import metrics
from genad._registry import get_modality
from genad._report import AnomalyReport, Usage
from genad.errors import BackendError, GenadError
from genad.eval._datasets import PROTOCOL_EXPERTS, Dataset, EvalItem

__all__ = [
    "EvalRecord",
    "ResultStore",
    "Runner",
    "category_metrics",
    "check_components",
    "protocol_detector",
    "select_references",
    "summarize",
]

NAB_PROTOCOL = "nab: every file, causal series expert, no references"
"""Part of a NAB run's cache key, so that results scored under another protocol are not reused."""
NAB_KEYS = {"standard": "nab_standard", "reward_low_FP_rate": "nab_low_fp", "reward_low_FN_rate": "nab_low_fn"}


@dataclass(frozen=True, eq=False)
class EvalRecord:
    """One scored item and its report."""

    item: EvalItem
    report: AnomalyReport
    references: tuple[str, ...] = ()

    @property
    def score(self) -> float | None:
        return self.report.score if self.report.ok else None


class ResultStore:
    """Per-sample reports in SQLite, one row per ``(run, item)``, written as each completes."""

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
        """Every stored report of ``run`` by item name."""
        out: dict[str, AnomalyReport] = {}
        for name, text, blob in self._db().execute("SELECT item, report, anomaly_map FROM results WHERE run = ?",
                                                   (run,)):
            report = AnomalyReport.from_json(text)
            if blob is not None:
                report = report.replace(anomaly_map=np.load(io.BytesIO(blob))["map"])
            out[name] = report
        return out

    def save(self, run: str, item: str, report: AnomalyReport) -> None:
        blob = None
        if report.anomaly_map is not None:
            buf = io.BytesIO()
            np.savez_compressed(buf, map=np.asarray(report.anomaly_map, dtype=np.float32))
            blob = buf.getvalue()
        self._db().execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)",
                           (run, item, report.to_json(indent=None), blob))

    def count(self, run: str) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM results WHERE run = ?", (run,)).fetchone()[0])

    def close(self) -> None:
        if self._db_ is not None:
            self._db_.close()
            self._db_ = None


def check_components(detector: Any, modality: str) -> None:
    """Raise before scoring when ``detector`` cannot run ``modality`` here: an unknown modality
    (:class:`~genad.errors.UnsupportedInputError`) or a default renderer or expert whose dependencies are missing
    (:class:`~genad.errors.MissingDependencyError`)."""
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
    expert = (getattr(detector, "experts", None) or {}).get(modality) or get_modality(modality).default_expert()
    params = sorted((k, v) for k, v in getattr(expert, "__dict__", {}).items() if not k.endswith("_") and _plain(v))
    return f"{type(expert).__module__}.{type(expert).__qualname__}{params!r}"


def _plain(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def protocol_detector(detector: Any, fmt: str) -> Any:
    """The detector a dataset format's protocol calls for: ``detector`` with the experts the format requires
    (see :data:`genad.eval._datasets.PROTOCOL_EXPERTS`; NAB measures streaming detection, so its series expert is
    causal), unless the detector already has its own expert for that modality."""
    required = PROTOCOL_EXPERTS.get(fmt, {})
    experts = getattr(detector, "experts", None) or {}
    missing = {m: make() for m, make in required.items() if m not in experts}
    if not missing or not hasattr(detector, "experts"):
        return detector
    adapted = copy(detector)
    adapted.experts = {**experts, **missing}
    return adapted


def select_references(items: Sequence[EvalItem], shots: int, seed: int) -> tuple[list[EvalItem], list[EvalItem]]:
    """Split one category into (k-shot references, items to score).

    References are ``shots`` normal items drawn with ``numpy.random.default_rng(seed)`` from the train split when
    there is one, else from the normal test items (which then leave scoring). Train-split items are never scored.
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

    ``cache_dir`` holds ``results.sqlite``; without it nothing is stored. ``limit`` caps the scored items per
    category (a seeded random subset). ``workers > 1`` scores that many samples at once in threads (VLM calls
    overlap); results are stored in completion order. ``on_result`` is called after each item with the record and
    whether it came from the store.
    """

    detector: Any
    shots: int = 0
    seed: int = 0
    cache_dir: str | Path | None = None
    limit: int | None = None
    workers: int = 1
    progress: bool = True
    on_result: Callable[[EvalRecord, bool], None] | None = field(default=None, repr=False)

    def run_key(self, dataset: Dataset) -> str:
        """A hash of what decides each sample's result: data root and format, mode, model, shots, seed, the genad
        version and, in local and hybrid mode, each expert's class and parameters."""
        from genad import __version__

        client = getattr(self.detector, "client", None)
        model = getattr(client, "model", None)
        prompt = getattr(getattr(self.detector, "prompt", None), "name", None)
        mode = self.detector.resolved_mode()
        settings = [str(Path(dataset.root).resolve()), dataset.format, mode, model, prompt, self.shots, self.seed,
                    __version__]
        if mode in ("local", "hybrid"):
            settings += [_describe_expert(self.detector, m) for m in sorted({it.modality for it in dataset})]
        if dataset.format == "nab":
            settings.append(NAB_PROTOCOL)
        return hashlib.sha256(json.dumps(settings, default=str).encode()).hexdigest()[:16]

    def plan(self, dataset: Dataset) -> list[tuple[EvalItem, tuple[Any, ...], tuple[str, ...]]]:
        """Every item to score with its references (objects to pass, and their names for the record). NAB scores
        every file with no references, whatever ``shots`` says."""
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
        """Score the dataset; already stored items are loaded, not rescored. Backend failures stop the run (what
        completed stays stored); other per-sample errors are stored as ``status="error"`` reports."""
        from tqdm import tqdm

        for modality in sorted({it.modality for it in dataset}):
            check_components(self.detector, modality)
        planned = self.plan(dataset)
        detect = partial(self._detect, protocol_detector(self.detector, dataset.format))
        store = ResultStore(Path(self.cache_dir) / "results.sqlite") if self.cache_dir is not None else None
        key = self.run_key(dataset)
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
            records[i] = EvalRecord(item, report, ref_names)
            if self.on_result is not None:
                self.on_result(records[i], stored)
            bar.set_postfix_str(f"tokens={spent.total_tokens} requests={spent.requests}", refresh=False)
            bar.update(1)

        todo = []
        for i, (item, _, _) in enumerate(planned):
            if item.name in done:
                finish(i, done[item.name], True)
            else:
                todo.append(i)
        try:
            if self.workers <= 1:
                for i in todo:
                    finish(i, _float32_map(detect(*planned[i][:2])), False)
            else:
                with ThreadPoolExecutor(self.workers) as pool:
                    futures = {pool.submit(detect, *planned[i][:2]): i for i in todo}
                    try:
                        for future in as_completed(futures):
                            finish(futures[future], _float32_map(future.result()), False)
                    except BaseException:
                        for future in futures:
                            future.cancel()
                        raise
        finally:
            bar.close()
            if store is not None:
                store.close()
        return [records[i] for i in sorted(records)]

    def _detect(self, detector: Any, item: EvalItem, refs: tuple[Any, ...]) -> AnomalyReport:
        try:
            return detector.detect(item.sample, category=item.category, references=refs,
                                        modality=item.modality)
        except BackendError:
            raise
        except GenadError as exc:
            return AnomalyReport.failed(exc, modality=item.modality, source=item.name,
                                        mode=detector.resolved_mode())


def _float32_map(report: AnomalyReport) -> AnomalyReport:
    """The report with its anomaly map as float32, exactly as the store gives it back on resume."""
    if report.anomaly_map is None or report.anomaly_map.dtype == np.float32:
        return report
    return report.replace(anomaly_map=np.asarray(report.anomaly_map, dtype=np.float32))


# ---------------------------------------------------------------- from reports to dense scores


# ---------------------------------------------------------------- metrics per category


def _nan_to_none(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _nab(records: list[EvalRecord]) -> dict[str, float]:
    from genad.eval._nab import NabFile, nab_scores

    files = [NabFile(r.item.name, metrics.dense_scores(r.report, r.item.length), r.item.windows) for r in records]
    if not files or not any(f.windows for f in files):
        return {}
    return {NAB_KEYS[name]: score.normalized for name, score in nab_scores(files).items()}


def category_metrics(fmt: str, records: list[EvalRecord]) -> dict[str, float]:
    """The metrics that apply to one category's scored (non-error) records: its modality's, plus the NAB scores
    for NAB files."""
    out = get_modality(records[0].item.modality).metrics(records)
    if fmt == "nab":
        out.update(_nab(records))
    return out


def summarize(dataset: Dataset, records: list[EvalRecord], *, mode: str, shots: int) -> dict[str, Any]:
    """The metrics.json document: per-category metrics with counts, and their mean over categories.

    NAB scores in ``mean`` are the corpus score over all files (thresholds optimised on the whole corpus, as NAB
    does), not a mean of per-category scores.
    """
    categories: dict[str, dict[str, Any]] = {}
    collected: dict[str, list[float]] = {}
    for category in dataset.categories:
        recs = [r for r in records if r.item.category == category]
        ok = [r for r in recs if r.report.ok and r.report.score is not None]
        block: dict[str, Any] = {"n": len(recs), "n_anomalous": sum(r.item.label for r in recs),
                                 "errors": len(recs) - len(ok)}
        if ok:
            for k, v in category_metrics(dataset.format, ok).items():
                block[k] = _nan_to_none(v)
                if block[k] is not None:
                    collected.setdefault(k, []).append(v)
        categories[category] = block
    mean = {k: float(np.mean(v)) for k, v in collected.items()}
    if dataset.format == "nab":
        ok_all = [r for r in records if r.report.ok and r.report.score is not None]
        mean.update(_nab(ok_all))
    ordered = {k: mean[k] for k in dict.fromkeys(k for block in categories.values() for k in block) if k in mean}
    ordered.update({k: v for k, v in mean.items() if k not in ordered})
    usage = sum((r.report.usage for r in records), Usage())
    return {
        "dataset": str(dataset.root), "format": dataset.format, "mode": mode,
        "shots": 0 if dataset.format == "nab" else shots,  # NAB's protocol uses no references
        "categories": categories, "mean": ordered,
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "requests": usage.requests},
    }
