"""The :class:`Detector` facade: one pipeline for every modality.

    sample -> load -> expert (local, hybrid) -> render -> prompt -> client -> parse -> report

``mode="local"`` runs only the modality's local expert; ``"vlm"`` only the vision-language model; ``"hybrid"``
runs the expert first, draws its candidate regions as numbered marks on a copy of the rendering, and asks the
VLM to confirm, reject or add regions; ``"auto"`` is hybrid when an endpoint is configured and local otherwise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from genad._client import Reply, VLMClient
from genad._contract import ANSWER_SCHEMA, Answer
from genad._expert import Expert, ExpertResult
from genad._ladder import LadderPrompt, PromptBuilder, PromptContext
from genad._messages import Message
from genad._parse import is_free_text, parse_answer
from genad._registry import MODALITIES, load_sample
from genad._rendering import Renderer, Rendering, ViewRegion
from genad._report import AnomalyReport, Region, Usage
from genad._sample import Sample
from genad.errors import BatchError, ConfigurationError, GenadError, ParseError, UnsupportedInputError

if TYPE_CHECKING:
    from genad._conversation import Conversation
    from genad._feedback import FeedbackStore

__all__ = ["Detector", "Exchange"]

Mode = Literal["auto", "local", "vlm", "hybrid"]

_ANOMALY_PHRASE = {"video": "anomalies or outliner points", "series": "anomalies or outliner points"}
_NO_ENDPOINT = (
    "no VLM endpoint is configured: pass client=OpenAIClient(model=..., base_url=..., api_key=...) or set "
    "GENAD_MODEL (and GENAD_BASE_URL, GENAD_API_KEY); or use mode='local'"
)


class Detector:
    """Detect anomalies in images, point clouds, videos and series, and say where and why.

    Parameters are only stored here; the client connects on first use, and a ``Detector`` pickles, so process
    pools, Dask and Ray can run it.

    Args:
        client: a :class:`~genad.VLMClient`; ``None`` reads ``GENAD_MODEL`` / ``GENAD_BASE_URL`` /
            ``GENAD_API_KEY`` (then ``OPENAI_*``) when a VLM is needed.
        prompt: a :class:`~genad.PromptBuilder`; default :class:`~genad.LadderPrompt` (the study's ladder).
        renderers: ``{modality: Renderer}`` overriding the defaults.
        experts: ``{modality: Expert}`` overriding the defaults.
        mode: ``"auto"``, ``"local"``, ``"vlm"`` or ``"hybrid"``.
        verify: after the first verdict, ask the VLM a second time to check each claimed region against the
            references and criteria, and drop the claims it does not support (see :mod:`genad._verify`). VLM
            modes only: local mode has no claims to verify.
        feedback: a :class:`~genad._feedback.FeedbackStore`; detections with a ``category`` then use its confirmed
            normals as extra references and its corrections as extra criteria (see :mod:`genad._feedback`).

    Example:
        >>> from genad import Detector
        >>> detector = Detector(mode="local")
        >>> report = detector.detect("part.png", references=["good.png"])  # doctest: +SKIP
        >>> report.is_anomalous, report.score, report.regions  # doctest: +SKIP
    """

    def __init__(
        self,
        client: VLMClient | None = None,
        *,
        prompt: PromptBuilder | None = None,
        renderers: dict[str, Renderer] | None = None,
        experts: dict[str, Expert] | None = None,
        mode: Mode = "auto",
        verify: bool = False,
        feedback: FeedbackStore | None = None,
    ) -> None:
        if mode not in ("auto", "local", "vlm", "hybrid"):
            raise ConfigurationError(f"mode must be 'auto', 'local', 'vlm' or 'hybrid', not {mode!r}")
        self.client = client
        self.prompt = prompt
        self.renderers = renderers
        self.experts = experts
        self.mode = mode
        self.verify = verify
        self.feedback = feedback
        self._lock_ = threading.Lock()
        self._client_: VLMClient | None = None
        self._defaults_: dict[tuple[str, str], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_lock_"] = None
        state["_client_"] = None
        state["_defaults_"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock_ = threading.Lock()

    def __repr__(self) -> str:
        return f"Detector(client={self.client!r}, mode={self.mode!r}, prompt={self.prompt!r})"

    # -- resolution of the plug-ins -------------------------------------------------------------------------------

    def resolved_mode(self) -> Literal["local", "vlm", "hybrid"]:
        """The mode in force: ``"auto"`` becomes ``"hybrid"`` with an endpoint and ``"local"`` without."""
        if self.mode != "auto":
            return self.mode
        return "hybrid" if self._vlm_client(required=False) is not None else "local"

    def _vlm_client(self, *, required: bool = True) -> VLMClient | None:
        if self.client is not None:
            return self.client
        if self._client_ is None:
            from genad._openai import OpenAIClient, endpoint_configured

            if endpoint_configured():
                with self._lock_:
                    if self._client_ is None:
                        self._client_ = OpenAIClient()
        if self._client_ is None and required:
            raise ConfigurationError(_NO_ENDPOINT)
        return self._client_

    def _plugin(self, kind: Literal["renderer", "expert"], modality: str) -> Any:
        given = self.renderers if kind == "renderer" else self.experts
        if given and modality in given:
            return given[modality]
        if modality not in MODALITIES:
            raise UnsupportedInputError(f"no {kind} for modality {modality!r}; pass one in {kind}s={{...}}")
        key = (kind, modality)
        if key not in self._defaults_:
            with self._lock_:
                if key not in self._defaults_:
                    spec = MODALITIES[modality]
                    self._defaults_[key] = spec.default_renderer() if kind == "renderer" else spec.default_expert()
        return self._defaults_[key]

    def _prompt(self) -> PromptBuilder:
        return self.prompt if self.prompt is not None else LadderPrompt()

    # -- one sample -----------------------------------------------------------------------------------------------

    def detect(
        self,
        sample: Any,
        *,
        category: str | None = None,
        references: Sequence[Any] = (),
        criteria: str | None = None,
        rules: Sequence[str] | None = None,
        modality: str | None = None,
    ) -> AnomalyReport:
        """Detect anomalies in one sample.

        Args:
            sample: a path (modality from the file type), a NumPy array, a PIL image, a pandas object or a typed
                sample such as :class:`~genad.ImageSample`.
            category: what the sample shows ("bottle"): the study's class information.
            references: normal samples of the same kind (paths, arrays or typed samples).
            criteria: human expertise: what normal looks like and which defects occur.
            rules: numbered normal rules for logical anomalies.
            modality: force a modality instead of guessing it.

        Returns:
            An :class:`~genad.AnomalyReport`. A reply that cannot be parsed even after one re-ask gives a report
            with ``status="error"``; bad input and backend failures raise :mod:`genad.errors` types.
        """
        loaded, refs, criteria, rules = self._prepare(sample, category, references, criteria, rules, modality)
        return self._detect_loaded(loaded, refs, category, criteria, rules)

    def _prepare(self, sample: Any, category: str | None, references: Sequence[Any], criteria: str | None,
                 rules: Sequence[str] | None, modality: str | None
                 ) -> tuple[Sample, tuple[Sample, ...], str | None, tuple[str, ...]]:
        """Apply the feedback store, then load the sample and its references."""
        if self.feedback is not None:
            references, criteria, rules = self.feedback.apply(category, references, criteria, rules, sample=sample)
        loaded = load_sample(sample, modality)
        return loaded, tuple(load_sample(r, loaded.modality) for r in references), criteria, tuple(rules or ())

    def converse(
        self,
        sample: Any,
        *,
        category: str | None = None,
        references: Sequence[Any] = (),
        criteria: str | None = None,
        rules: Sequence[str] | None = None,
        modality: str | None = None,
    ) -> Conversation:
        """Detect as :meth:`detect` does, and keep the dialogue open for follow-up questions.

        Returns a :class:`~genad._conversation.Conversation` whose ``report`` is the first verdict (verified when
        ``verify=True``); ``conversation.ask("Is region 1 a scratch or a reflection?")`` sends the same images and
        the earlier turns with the question. Needs a VLM: raises :class:`~genad.errors.ConfigurationError` in
        local mode.
        """
        if self.resolved_mode() == "local":
            raise ConfigurationError("a conversation needs a VLM; this detector runs in local mode")
        loaded, refs, criteria, rules = self._prepare(sample, category, references, criteria, rules, modality)
        start = time.perf_counter()
        mode = self.resolved_mode()
        expert_result = self._plugin("expert", loaded.modality).score(loaded, refs) if mode == "hybrid" else None
        return self._conversation(self._exchange(loaded, refs, category, criteria, rules, mode, expert_result), start)

    def _detect_loaded(
        self,
        sample: Sample,
        refs: tuple[Sample, ...],
        category: str | None,
        criteria: str | None,
        rules: tuple[str, ...],
        expert_result: ExpertResult | None = None,
    ) -> AnomalyReport:
        start = time.perf_counter()
        mode = self.resolved_mode()
        if mode in ("local", "hybrid") and expert_result is None:
            expert_result = self._plugin("expert", sample.modality).score(sample, refs)
        if mode == "local":
            assert expert_result is not None
            return _local_report(sample, expert_result, time.perf_counter() - start)
        exchange = self._exchange(sample, refs, category, criteria, rules, mode, expert_result)
        return self._conversation(exchange, start).report

    def _conversation(self, exchange: Exchange, start: float) -> Conversation:
        """The first turn of the dialogue (and the verification turn when ``verify=True``)."""
        from genad._conversation import Conversation

        conversation = Conversation(exchange)
        conversation.open(started=start)
        if self.verify:
            conversation.verify()
        return conversation

    def _exchange(
        self,
        sample: Sample,
        refs: tuple[Sample, ...],
        category: str | None,
        criteria: str | None,
        rules: tuple[str, ...],
        mode: str,
        expert_result: ExpertResult | None,
    ) -> Exchange:
        """Render the sample and its references, draw the expert's marks, and build the first prompt."""
        client = self._vlm_client()
        assert client is not None
        renderer = self._plugin("renderer", sample.modality)
        rendering = renderer.render(sample)
        ref_renderings = tuple(renderer.render(r) for r in refs)
        marked: Rendering | None = None
        mark_notes: tuple[str, ...] = ()
        mark_regions: tuple[Region, ...] = ()
        if mode == "hybrid" and expert_result is not None and expert_result.regions:
            from genad.annotate import draw_marks

            mark_regions = expert_result.regions
            marked = draw_marks(rendering, mark_regions, expert_result.anomaly_map)
            mark_notes = tuple(
                f"mark {i}: expert confidence {r.confidence:.2f}" if r.confidence is not None else f"mark {i}"
                for i, r in enumerate(mark_regions, 1)
            )
        context = PromptContext(
            query=rendering, references=ref_renderings, category=category, criteria=criteria, rules=rules,
            marks=marked, mark_notes=mark_notes, anomalies=_ANOMALY_PHRASE.get(sample.modality, "anomalies or defects"),
        )
        prompt = self._prompt()
        return Exchange(sample=sample, mode=mode, client=client, prompt_name=prompt.name, context=context,
                        messages=tuple(prompt.build(context)), mark_regions=mark_regions,
                        expert_result=expert_result)

    # -- many samples ---------------------------------------------------------------------------------------------

    def detect_many(
        self,
        samples: Iterable[Any],
        *,
        executor: Executor | None = None,
        max_in_flight: int = 16,
        errors: Literal["return", "raise"] = "return",
        progress: bool = True,
        category: str | None = None,
        references: Sequence[Any] = (),
        criteria: str | None = None,
        rules: Sequence[str] | None = None,
        modality: str | None = None,
    ) -> list[AnomalyReport]:
        """Detect anomalies in many samples; reports come back in input order.

        At most ``max_in_flight`` samples are in progress at once. With ``errors="return"`` a sample that fails
        gives a report with ``status="error"`` and the others go on; with ``"raise"`` the first failure raises
        :class:`~genad.errors.BatchError`, whose ``reports`` keeps every finished report. ``executor`` may be any
        :class:`concurrent.futures.Executor` (threads, processes, ``dask.distributed.Client.get_executor()``);
        it is never shut down here. Without one, a thread pool of ``max_in_flight`` workers is used.
        When every sample is scored by a local expert that offers ``score_many`` (and no executor is given),
        the expert sees the whole batch at once, which enables zero-shot mutual scoring.
        """
        from tqdm.auto import tqdm

        if errors not in ("return", "raise"):
            raise ConfigurationError(f"errors must be 'return' or 'raise', not {errors!r}")
        items = list(samples)
        if self.feedback is not None:
            references, criteria, rules = self.feedback.apply(category, references, criteria, rules)
        kw: dict[str, Any] = {"category": category, "criteria": criteria, "rules": tuple(rules or ())}
        reports: list[AnomalyReport | None] = [None] * len(items)
        loaded: list[Sample | None] = [None] * len(items)
        refs_by_modality: dict[str, tuple[Sample, ...]] = {}
        expert_results: dict[int, ExpertResult] = {}
        if executor is None and self.resolved_mode() in ("local", "hybrid"):
            for i, item in enumerate(items):
                try:
                    loaded[i] = load_sample(item, modality)
                except GenadError as exc:
                    reports[i] = self._failed(exc, item, errors, reports)
            expert_results = self._score_batches(loaded, references, refs_by_modality)

        def task(i: int) -> AnomalyReport:
            sample = loaded[i] or load_sample(items[i], modality)
            if sample.modality not in refs_by_modality:
                refs_by_modality[sample.modality] = tuple(load_sample(r, sample.modality) for r in references)
            return self._detect_loaded(sample, refs_by_modality[sample.modality], expert_result=expert_results.get(i),
                                       **kw)

        pending = [i for i in range(len(items)) if reports[i] is None]
        own = executor is None
        pool: Executor = executor if executor is not None else ThreadPoolExecutor(max_workers=max(1, max_in_flight))
        bar = tqdm(total=len(items), initial=len(items) - len(pending), disable=not progress, unit="sample")
        running: dict[Future[AnomalyReport], int] = {}
        try:
            queue = iter(pending)
            for i in queue:
                running[_submit(pool, task, i, executor is None, self, items[i], modality, kw, references)] = i
                if len(running) >= max_in_flight:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    try:
                        reports[i] = fut.result()
                    except Exception as exc:
                        reports[i] = self._failed(exc, items[i], errors, reports)
                    bar.update(1)
                    nxt = next(queue, None)
                    if nxt is not None:
                        running[_submit(pool, task, nxt, executor is None, self, items[nxt], modality, kw,
                                        references)] = nxt
        except BatchError:
            for fut in running:
                fut.cancel()
            raise
        finally:
            bar.close()
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
        return [r for r in reports if r is not None]

    def _score_batches(
        self, loaded: list[Sample | None], references: Sequence[Any], refs_by_modality: dict[str, tuple[Sample, ...]]
    ) -> dict[int, ExpertResult]:
        """Run each modality's ``score_many`` over the batch, when its expert has one."""
        results: dict[int, ExpertResult] = {}
        by_modality: dict[str, list[int]] = {}
        for i, s in enumerate(loaded):
            if s is not None:
                by_modality.setdefault(s.modality, []).append(i)
        for name, idx in by_modality.items():
            expert = self._plugin("expert", name)
            refs_by_modality[name] = tuple(load_sample(r, name) for r in references)
            score_many: Callable[..., list[ExpertResult]] | None = getattr(expert, "score_many", None)
            if score_many is None:
                continue
            try:
                batch = score_many([loaded[i] for i in idx], refs_by_modality[name])
            except GenadError:
                continue  # scored one by one below, so the failing sample is isolated
            results.update(zip(idx, batch, strict=True))
        return results

    def _failed(self, exc: BaseException, item: Any, errors: str, reports: list[AnomalyReport | None]) -> AnomalyReport:
        report = AnomalyReport.failed(exc, source=_source_name(item), mode=self.mode)
        if errors == "raise":
            raise BatchError(f"sample {_source_name(item)!r} failed: {type(exc).__name__}: {exc}", reports) from exc
        return report


@dataclass(frozen=True, eq=False)
class Exchange:
    """What the VLM is shown for one sample, and what is needed to read its answers back into a report.

    ``messages`` is the first prompt; ``context`` holds the renderings (``context.marks`` is the marked copy in
    hybrid mode), ``mark_regions`` the expert's candidates behind the marks.
    """

    sample: Sample
    mode: str
    client: VLMClient
    prompt_name: str
    context: PromptContext
    messages: tuple[Message, ...]
    mark_regions: tuple[Region, ...] = ()
    expert_result: ExpertResult | None = None

    @property
    def n_reference_images(self) -> int:
        """Images before the inspected sample's in the prompt."""
        return sum(len(r.images) for r in self.context.references)

    def report(self, answer: Answer | None, replies: Sequence[Reply], error: ParseError | None,
               latency_s: float) -> AnomalyReport:
        """The report for one answer (``None`` with the ``error`` when no reply could be read)."""
        usage = sum((r.usage for r in replies), Usage())
        raw = "\n---\n".join(r.text for r in replies)
        model = self.client.model
        common: dict[str, Any] = {
            "modality": self.sample.modality, "source": self.sample.name, "mode": self.mode, "model": model,
            "prompt_strategy": self.prompt_name, "usage": usage, "raw": raw,
        }
        if answer is None:
            assert error is not None
            return AnomalyReport.failed(error, modality=self.sample.modality, source=self.sample.name, mode=self.mode,
                                        latency_s=latency_s).replace(
                usage=usage, raw=raw, model=model, prompt_strategy=self.prompt_name)
        rendering = self.context.query
        regions, notes = _map_regions(answer, rendering, self.n_reference_images, self.context.marks is not None,
                                      self.mark_regions)
        if is_free_text(answer):
            notes += ("the reply was free text: the verdict was read from its wording and the score is a heuristic",)
        vlm_score = answer.score if answer.score is not None else (1.0 if answer.is_anomalous else 0.0)
        expert_result = self.expert_result
        if expert_result is not None:
            score, verdict, regions = _combine(expert_result, answer, regions, self.mark_regions)
            notes += expert_result.notes
        else:
            score, verdict = vlm_score, answer.is_anomalous
        return AnomalyReport(
            is_anomalous=verdict, score=score, anomaly_type=answer.anomaly_type, regions=tuple(regions),
            explanation=answer.explanation, latency_s=latency_s, notes=tuple(notes),
            expert_score=None if expert_result is None else expert_result.score, vlm_score=vlm_score,
            anomaly_map=None if expert_result is None else expert_result.anomaly_map, **common,
        )


def _submit(pool: Executor, task: Callable[[int], AnomalyReport], i: int, local: bool, detector: Detector,
            item: Any, modality: str | None, kw: dict[str, Any], references: Sequence[Any]) -> Future[AnomalyReport]:
    """Threads share the loaded batch; other executors get a picklable call on the detector."""
    if local:
        return pool.submit(task, i)
    return pool.submit(detector.detect, item, references=references, modality=modality, **kw)


def _source_name(item: Any) -> str | None:
    if isinstance(item, Sample):
        return item.name
    return str(item) if isinstance(item, str) or hasattr(item, "__fspath__") else None


def _ask(client: VLMClient, messages: list[Message], schema: dict[str, Any] = ANSWER_SCHEMA
         ) -> tuple[Answer | None, list[Reply], ParseError | None]:
    """Send the prompt; on a reply that breaks the contract, re-ask once with the error."""
    reply = client.complete(messages, schema)
    try:
        return parse_answer(reply.text, reply.data), [reply], None
    except ParseError as first:
        retry = [
            *messages,
            Message("assistant", (reply.text,)),
            Message("user", (f"That reply does not follow the contract ({first}). "
                             "Answer again with only the JSON object.",)),
        ]
        second = client.complete(retry, schema)
        try:
            return parse_answer(second.text, second.data), [reply, second], None
        except ParseError as exc:
            return None, [reply, second], exc


def _map_regions(answer: Answer, rendering: Rendering, n_ref_images: int, has_marks: bool,
                 mark_regions: Sequence[Region]) -> tuple[list[Region], tuple[str, ...]]:
    """Map the VLM's regions back to the sample; note what was clipped or dropped."""
    regions: list[Region] = []
    notes: list[str] = []
    n_query = len(rendering.images)
    for r in answer.regions:
        if r.mark is not None:
            if 1 <= r.mark <= len(mark_regions):
                continue  # confirmed marks are resolved by the hybrid rule
            notes.append(f"dropped a region naming mark {r.mark}: there are {len(mark_regions)} marks")
            continue
        view = (r.image or n_ref_images + 1) - 1 - n_ref_images
        if has_marks and n_query <= view < 2 * n_query:
            view -= n_query
        if view < 0:
            notes.append(f"dropped a region on image {r.image}: it is a normal reference")
            continue
        mapped = rendering.to_native(ViewRegion(
            view=view,
            box=tuple(r.box) if r.box is not None else None,  # type: ignore[arg-type]
            interval=tuple(r.interval) if r.interval is not None else None,  # type: ignore[arg-type]
            cells=tuple(r.cells) if r.cells is not None else None,
            label=r.label, confidence=r.confidence,
        ))
        if mapped.note:
            notes.append(mapped.note)
        if mapped.region is not None:
            regions.append(mapped.region)
    return regions, tuple(notes)


def _combine(expert: ExpertResult, answer: Answer, vlm_regions: list[Region],
             mark_regions: Sequence[Region]) -> tuple[float, bool, list[Region]]:
    """The hybrid rule: the expert proposes, the VLM decides.

    The VLM saw the expert's marks and confidences, so its verdict and score are the report's. Only when the reply
    was free text (the score is then a heuristic read from wording) is the score the mean of that heuristic and
    the expert's calibrated score, and the verdict that mean >= 0.5.
    Regions: marks the VLM confirmed (``source="hybrid"``), then regions the VLM added. Marks it rejected are
    dropped. If the verdict is anomalous and the VLM named no region at all, the marks it did not reject stay
    (``source="expert"``). The expert's own score is kept in ``AnomalyReport.expert_score``.
    """
    vlm_score = answer.score if answer.score is not None else float(answer.is_anomalous)
    if is_free_text(answer):
        score = (expert.score + vlm_score) / 2.0
        verdict = score >= 0.5
    else:
        score, verdict = vlm_score, answer.is_anomalous
    confirmed = {r.mark: r for r in answer.regions if r.mark is not None and 1 <= r.mark <= len(mark_regions)}
    rejected = set(answer.rejected_marks)
    regions = [
        replace(mark_regions[k - 1], source="hybrid", label=r.label or mark_regions[k - 1].label,
                confidence=r.confidence if r.confidence is not None else mark_regions[k - 1].confidence)
        for k, r in sorted(confirmed.items()) if k not in rejected
    ]
    regions += vlm_regions
    if verdict and not regions:
        regions = [m for k, m in enumerate(mark_regions, 1) if k not in rejected]
    return score, verdict, regions


def _local_report(sample: Sample, result: ExpertResult, latency_s: float) -> AnomalyReport:
    verdict = result.is_anomalous
    found = f"{len(result.regions)} candidate region(s)" if result.regions else "no candidate region"
    explanation = (
        f"Local {sample.modality} expert: calibrated score {result.score:.3f} (raw {result.raw_score:.4g}; "
        f">= 0.5 means anomalous); {found}. No VLM was used."
    )
    return AnomalyReport(
        is_anomalous=verdict, score=result.score, regions=result.regions, explanation=explanation,
        modality=sample.modality, source=sample.name, mode="local", model=None, prompt_strategy=None,
        latency_s=latency_s, expert_score=result.score, notes=(*result.notes, "no VLM was used"),
        anomaly_map=result.anomaly_map,
    )
