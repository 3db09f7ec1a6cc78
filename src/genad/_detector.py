"""The :class:`Detector` facade: one pipeline for every modality.

    sample -> load -> expert (local, hybrid) -> render -> prompt + contract -> client -> read -> report

``mode="local"`` runs only the modality's local expert; ``"vlm"`` only the vision-language model; ``"hybrid"``
runs the expert first, draws its candidate regions as numbered marks on a copy of the rendering, and asks the
VLM to confirm, reject or add regions; ``"auto"`` is hybrid when an endpoint is configured and local otherwise.
The steps themselves are the functions of :mod:`genad._pipeline`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, Literal

from genad import _batch
from genad._client import VLMClient
from genad._contract import Answer
from genad._conversation import Conversation
from genad._expert import Expert, ExpertResult
from genad._ladder import LadderPrompt, PromptBuilder
from genad._messages import Message
from genad._pipeline import Asked, Exchange, ask, load, local_report, prepare
from genad._registry import get_modality, modality_names
from genad._rendering import Renderer
from genad._report import AnomalyReport
from genad._sample import Sample
from genad._task import Task
from genad._verify import verify
from genad.errors import ConfigurationError

if TYPE_CHECKING:
    from genad._feedback import FeedbackStore

__all__ = ["Detector", "Mode"]

Mode = Literal["auto", "local", "vlm", "hybrid"]
_NO_ENDPOINT = (
    "no VLM endpoint is configured: pass client=OpenAIClient(model=..., base_url=..., api_key=...) or set "
    "GENAD_MODEL (and GENAD_BASE_URL, GENAD_API_KEY); or use mode='local'"
)


class Detector:
    """Detect anomalies in images, point clouds, videos and series, and say where and why.

    Parameters are only stored here; the client connects on first use, and a ``Detector`` pickles, so process
    pools, Dask and Ray can run it.

    Parameters
    ----------
    client
        A :class:`~genad.VLMClient`; ``None`` reads ``GENAD_MODEL`` / ``GENAD_BASE_URL`` / ``GENAD_API_KEY``
        (then ``OPENAI_*``) when a VLM is needed.
    prompt
        A :class:`~genad.PromptBuilder`; default :class:`~genad.LadderPrompt` (the study's ladder).
    renderers
        ``{modality: Renderer}`` overriding the defaults.
    experts
        ``{modality: Expert}`` overriding the defaults.
    mode
        ``"auto"``, ``"local"``, ``"vlm"`` or ``"hybrid"``.
    verify
        After the first verdict, ask the VLM a second time to check each claimed region against the references
        and criteria, and drop the claims it does not support. VLM modes only.
    feedback
        A :class:`~genad.FeedbackStore`; detections with a category then use its confirmed normals as extra
        references and its corrections as extra criteria.

    Examples
    --------
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
        renderers: dict[str, Renderer[Any]] | None = None,
        experts: dict[str, Expert[Any]] | None = None,
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
        self._checked_ = False

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_lock_=None, _client_=None, _defaults_={}, _checked_=False)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock_ = threading.Lock()

    def __repr__(self) -> str:
        return f"Detector(client={self.client!r}, mode={self.mode!r}, prompt={self.prompt!r})"

    # -- the plug-ins in force -------------------------------------------------------------------------------------

    def resolved_mode(self) -> Literal["local", "vlm", "hybrid"]:
        """The mode in force: ``"auto"`` becomes ``"hybrid"`` with an endpoint and ``"local"`` without."""
        if self.mode != "auto":
            return self.mode
        return "hybrid" if self._configured_client() is not None else "local"

    def vlm_client(self) -> VLMClient:
        """The VLM client: the one given, else an :class:`~genad.OpenAIClient` from the environment.

        Raises :class:`~genad.errors.ConfigurationError` when no endpoint is configured.
        """
        client = self._configured_client()
        if client is None:
            raise ConfigurationError(_NO_ENDPOINT)
        return client

    def _configured_client(self) -> VLMClient | None:
        if self.client is not None:
            return self.client
        if self._client_ is None:
            from genad._openai import OpenAIClient, endpoint_configured

            if endpoint_configured():
                with self._lock_:
                    if self._client_ is None:
                        self._client_ = OpenAIClient()
        return self._client_

    def renderer_for(self, modality: str) -> Renderer[Any]:
        """The renderer for ``modality``: the one given in ``renderers``, else the modality's default."""
        return self._plugin("renderer", modality)

    def expert_for(self, modality: str) -> Expert[Any]:
        """The local expert for ``modality``: the one given in ``experts``, else the modality's default."""
        return self._plugin("expert", modality)

    def prompt_builder(self) -> PromptBuilder:
        """The prompt builder: the one given, else the study's ladder."""
        return self.prompt if self.prompt is not None else LadderPrompt()

    def check_plugins(self) -> None:
        """Raise :class:`~genad.errors.ConfigurationError` when ``renderers`` or ``experts`` name a modality that
        is not registered (a typo such as ``"imgae"`` would otherwise be ignored)."""
        if self._checked_:
            return
        known = set(modality_names())
        for kind, given in (("renderers", self.renderers), ("experts", self.experts)):
            unknown = sorted(set(given or ()) - known)
            if unknown:
                raise ConfigurationError(f"{kind}= names unknown modalities {unknown}; known: {sorted(known)}")
        self._checked_ = True

    def _plugin(self, kind: Literal["renderer", "expert"], modality: str) -> Any:
        given = self.renderers if kind == "renderer" else self.experts
        if given and modality in given:
            return given[modality]
        key = (kind, modality)
        if key not in self._defaults_:
            spec = get_modality(modality)
            with self._lock_:
                if key not in self._defaults_:
                    self._defaults_[key] = spec.default_renderer() if kind == "renderer" else spec.default_expert()
        return self._defaults_[key]

    # -- one sample ------------------------------------------------------------------------------------------------

    def detect(
        self,
        sample: Any,
        task: Task | None = None,
        *,
        category: str | None = None,
        references: Sequence[Any] = (),
        criteria: str | None = None,
        rules: Sequence[str] | None = None,
        modality: str | None = None,
    ) -> AnomalyReport:
        """Detect anomalies in one sample.

        Parameters
        ----------
        sample
            A path (the modality comes from the file type), a NumPy array, a PIL image, a pandas object or a
            typed sample such as :class:`~genad.modalities.image.ImageSample`.
        task
            A :class:`~genad.Task`; or give its fields as the keywords below.
        category
            What the sample shows ("bottle"): the study's class information.
        references
            Normal samples of the same kind (paths, arrays or typed samples).
        criteria
            Human expertise: what normal looks like and which defects occur.
        rules
            Numbered normal rules for logical anomalies.
        modality
            Force a modality instead of guessing it.

        Returns
        -------
        AnomalyReport
            A reply that cannot be read even after one re-ask gives a report with ``status="error"``; bad input
            and backend failures raise :mod:`genad.errors` types.
        """
        start = time.perf_counter()
        task = self.task_for(sample, Task.of(task, category=category, references=references, criteria=criteria,
                                             rules=rules))
        mode = self.resolved_mode()
        if mode != "local":
            self.vlm_client()  # fail before the expert runs
        loaded, refs = load(sample, task, modality)
        result = self.expert_for(loaded.modality).score(loaded, refs) if mode != "vlm" else None
        return self.detect_scored(loaded, refs, task, result, started=start)

    def task_for(self, sample: Any, task: Task) -> Task:
        """``task`` with the feedback store's confirmed normals and corrections added (when there is a store)."""
        self.check_plugins()
        return self.feedback.apply(task, sample=sample) if self.feedback is not None else task

    def detect_scored(self, sample: Sample, references: Sequence[Sample], task: Task,
                      expert_result: ExpertResult | None, *, started: float | None = None) -> AnomalyReport:
        """Finish a detection whose sample is loaded and, in local and hybrid mode, scored by the expert.

        Local mode reports the expert's result; VLM and hybrid modes render, ask and read (and verify when
        ``verify=True``). ``started`` is when detection began, for the report's latency.
        """
        start = time.perf_counter() if started is None else started
        mode = self.resolved_mode()
        if mode == "local":
            if expert_result is None:
                raise ConfigurationError("local mode needs the expert's result")
            return local_report(sample, expert_result, time.perf_counter() - start)
        exchange = self.prepare(sample, references, task, mode=mode, client=self.vlm_client(),
                                expert_result=expert_result)
        asked: Asked[Answer] = ask(exchange.client, exchange.messages)
        report = exchange.read(asked.value, asked.replies, asked.error, asked.latency_s)
        if self.verify and asked.value is not None:
            dialogue = [*exchange.messages, Message("assistant", (asked.replies[-1].text,))]
            report, _, _ = verify(exchange, dialogue, report)
        return report.replace(latency_s=time.perf_counter() - start)

    def prepare(self, sample: Sample, references: Sequence[Sample], task: Task, *, mode: str, client: VLMClient,
                expert_result: ExpertResult | None = None) -> Exchange:
        """What the VLM is shown for ``sample``, rendered by this detector's renderer and prompt builder."""
        return prepare(sample, references, task, mode=mode, client=client,
                       renderer=self.renderer_for(sample.modality), prompt=self.prompt_builder(),
                       anomalies=get_modality(sample.modality).anomaly_phrase, expert_result=expert_result)

    def converse(
        self,
        sample: Any,
        task: Task | None = None,
        *,
        category: str | None = None,
        references: Sequence[Any] = (),
        criteria: str | None = None,
        rules: Sequence[str] | None = None,
        modality: str | None = None,
    ) -> Conversation:
        """Detect as :meth:`detect` does, and keep the dialogue open for follow-up questions.

        Returns a :class:`~genad.Conversation` whose ``report`` is the first verdict (verified when
        ``verify=True``); ``conversation.ask("Is region 1 a scratch or a reflection?")`` sends the same images and
        the earlier turns with the question. Needs a VLM: raises :class:`~genad.errors.ConfigurationError` in
        local mode.
        """
        mode = self.resolved_mode()
        if mode == "local":
            raise ConfigurationError("a conversation needs a VLM; this detector runs in local mode")
        self.vlm_client()
        task = self.task_for(sample, Task.of(task, category=category, references=references, criteria=criteria,
                                             rules=rules))
        loaded, refs = load(sample, task, modality)
        result = self.expert_for(loaded.modality).score(loaded, refs) if mode == "hybrid" else None
        return self._open(loaded, refs, task, mode, result)

    def _open(self, sample: Sample, references: Sequence[Sample], task: Task, mode: str,
              expert_result: ExpertResult | None) -> Conversation:
        """The first turn of the dialogue (and the verification turn when ``verify=True``)."""
        conversation = Conversation(self.prepare(sample, references, task, mode=mode, client=self.vlm_client(),
                                                 expert_result=expert_result))
        conversation.open()
        if self.verify:
            conversation.verify()
        return conversation

    # -- many samples ----------------------------------------------------------------------------------------------

    def detect_many(
        self,
        samples: Iterable[Any],
        task: Task | None = None,
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

        Parameters
        ----------
        samples
            Anything :meth:`detect` takes, one per item.
        task, category, references, criteria, rules, modality
            As for :meth:`detect`, the same for every sample.
        executor
            Any :class:`concurrent.futures.Executor` (threads, processes,
            ``dask.distributed.Client.get_executor()``); it is never shut down here. Without one, a thread pool
            of ``max_in_flight`` workers is used.
        max_in_flight
            At most this many samples are in progress at once.
        errors
            ``"return"``: a sample that fails gives a report with ``status="error"`` and the others go on.
            ``"raise"``: the first failure raises :class:`~genad.errors.BatchError`, whose ``reports`` keeps
            every finished report.
        progress
            Show a progress bar.

        Notes
        -----
        Without references, each modality's samples are scored by the expert's ``score_many`` as one batch
        (zero-shot mutual scoring), with or without an executor; with references too when the expert scores such
        batches jointly (the image expert: ``ImageExpert(batch_context=True)``, the default);
        see :mod:`genad._batch`.
        """
        return _batch.detect_many(
            self, samples, Task.of(task, category=category, references=references, criteria=criteria, rules=rules),
            executor=executor, max_in_flight=max_in_flight, errors=errors, progress=progress, modality=modality)

