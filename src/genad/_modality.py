"""The modality seam: one plug-in object says how a kind of data is loaded, rendered, scored, drawn and measured.

A :class:`Modality` names its file suffixes, the study's phrase for its anomalies, its native coordinates, how to
recognise and load an input, and its default renderer and expert. :class:`ModalityBase` gives the optional parts
(pictures, evaluation metrics, dependency checks) sensible defaults, so a new modality overrides five members.
Register one with :func:`genad.register_modality` or through the ``genad.modalities`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

from genad._expert import Expert
from genad._rendering import Renderer
from genad._report import AnomalyReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from genad.eval import EvalRecord

__all__ = ["Component", "Modality", "ModalityBase"]

SampleT = TypeVar("SampleT")
Component = Literal["sample", "renderer", "expert"]


@runtime_checkable
class Modality(Protocol[SampleT]):
    """One kind of data, as a plug-in. Check one with :func:`genad.testing.check_modality`.

    Attributes
    ----------
    name
        The modality's name, as in ``AnomalyReport.modality`` and ``Detector(experts={name: ...})``.
    suffixes
        File suffixes (lower case, with the dot) that belong to this modality.
    anomaly_phrase
        What the study's prompt calls its anomalies: ``"anomalies or defects"``.
    coordinates
        The native coordinates of its regions, in words (shown in docs and errors).
    """

    name: str
    suffixes: tuple[str, ...]
    anomaly_phrase: str
    coordinates: str

    def accepts(self, obj: object) -> bool:
        """Whether an object is a sample of this modality.

        Parameters
        ----------
        obj
            An in-memory object, or a path with no known suffix.
        """
        ...

    def load(self, obj: object, *, name: str | None = None) -> SampleT:
        """A validated sample from a path, an in-memory object or a sample of this modality (returned as it is).

        Parameters
        ----------
        obj
            A path, an in-memory object or a sample of this modality.
        name
            Overrides the sample's name (a path the object was read from).

        Raises
        ------
        InputError
            Its subclasses, on bad input.
        """
        ...

    def default_renderer(self) -> Renderer[SampleT]:
        """A new renderer with default parameters."""
        ...

    def default_expert(self) -> Expert[SampleT]:
        """A new local expert with default parameters."""
        ...

    def check_dependencies(self, component: Component) -> None:
        """Check that a component of this modality can run here.

        Parameters
        ----------
        component
            ``"sample"``, ``"renderer"`` or ``"expert"``.

        Raises
        ------
        MissingDependencyError
            When the component cannot run here.
        """
        ...

    def picture(self, report: AnomalyReport, sample: SampleT | None = None) -> np.ndarray:
        """An RGB picture of a report on its sample.

        Parameters
        ----------
        report
            The report to draw.
        sample
            The sample it is about; default: loaded from ``report.source``.
        """
        ...

    def plot(self, report: AnomalyReport, sample: SampleT | None = None, ax: Axes | None = None) -> Axes:
        """Show :meth:`picture` on matplotlib axes.

        Parameters
        ----------
        report, sample
            As for :meth:`picture`.
        ax
            The axes to draw on; new ones when ``None``.
        """
        ...

    def metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """``genad eval``'s metrics for one category's scored records."""
        ...

    def pooled_metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """``genad eval``'s metrics over every category's records at once (e.g. every frame of every clip)."""
        ...

    def roc_points(self, records: Sequence[EvalRecord]) -> tuple[np.ndarray, np.ndarray]:
        """Labels and scores of the units an ROC curve is drawn over (samples, frames, rows)."""
        ...

    def eval_picture(self, record: EvalRecord) -> np.ndarray | None:
        """The picture of one scored record in the HTML report, ground truth drawn when known."""
        ...


class ModalityBase:
    """Defaults for the optional parts of a :class:`Modality`; subclass it and set the rest.

    A subclass sets the attributes below and implements ``accepts``, ``load``, ``default_renderer`` and
    ``default_expert``. The defaults here draw the report's regions on the default renderer's images and measure
    sample-level AUROC, AP and best F1.

    Attributes
    ----------
    name
        The modality's name (see :class:`Modality`).
    suffixes
        File suffixes, lower case with the dot (default: none).
    anomaly_phrase
        What the study's prompt calls its anomalies (default ``"anomalies or defects"``).
    coordinates
        The native coordinates of its regions, in words.

    Examples
    --------
    >>> class AudioModality(ModalityBase):
    ...     name, suffixes, coordinates = "audio", (".wav",), "seconds: intervals of samples"
    ...     def accepts(self, obj): return False
    ...     def load(self, obj, *, name=None): return AudioSample.from_path(obj)   # doctest: +SKIP
    ...     def default_renderer(self): return SpectrogramRenderer()        # doctest: +SKIP
    ...     def default_expert(self): return LoudnessExpert()               # doctest: +SKIP
    """

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    anomaly_phrase: ClassVar[str] = "anomalies or defects"
    coordinates: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"<modality {self.name!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())

    def accepts(self, obj: object) -> bool:
        """In-memory objects are not recognised unless a subclass says so."""
        return False

    def load(self, obj: object, *, name: str | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement load()")

    def default_renderer(self) -> Renderer[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement default_renderer()")

    def default_expert(self) -> Expert[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement default_expert()")

    def check_dependencies(self, component: Component) -> None:
        """Nothing to check by default."""

    def picture(self, report: AnomalyReport, sample: Any = None) -> np.ndarray:
        """The default renderer's images, one under the other, with the report's regions as numbered boxes.

        The boxes are coloured by source and drawn wherever :meth:`~genad.Rendering.to_views` places them.
        ``AnomalyReport.picture``, ``plot`` and the report's notebook views all come here; override it to draw
        what a modality's anomalies look like (genad's own modalities do).

        Parameters
        ----------
        report
            The report to draw.
        sample
            The sample it is about; default: loaded from ``report.source``.
        """
        from genad.annotate import draw_regions, stack

        rendering = self.default_renderer().render(self._sample_of(report, sample))
        return stack(draw_regions(rendering, report.regions))

    def plot(self, report: AnomalyReport, sample: Any = None, ax: Axes | None = None) -> Axes:
        """:meth:`picture` shown with matplotlib, titled with the report's headline.

        Parameters
        ----------
        report, sample
            As for :meth:`picture`.
        ax
            The axes to draw on; new axes sized to the picture when ``None``.
        """
        from genad.annotate import show

        return show(self.picture(report, sample), report.headline, ax)

    def metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """Sample-level AUROC, average precision and best F1."""
        from genad import metrics

        labels = [r.item.label for r in records]
        scores = [r.report.score or 0.0 for r in records]
        return {"sample_auroc": metrics.auroc(labels, scores), "sample_ap": metrics.average_precision(labels, scores),
                "f1_max": metrics.f1_max(labels, scores)}

    def pooled_metrics(self, records: Sequence[EvalRecord]) -> dict[str, float]:
        """None by default: the mean over categories says enough."""
        return {}

    def roc_points(self, records: Sequence[EvalRecord]) -> tuple[np.ndarray, np.ndarray]:
        """One point per sample."""
        return (np.array([r.item.label for r in records], dtype=np.int8),
                np.array([r.report.score or 0.0 for r in records], dtype=np.float64))

    def eval_picture(self, record: EvalRecord) -> np.ndarray | None:
        """:meth:`picture` of the record's sample."""
        return self.picture(record.report, self.load(record.item.sample))

    def _sample_of(self, report: AnomalyReport, sample: Any) -> Any:
        from genad.errors import InputError

        if sample is None:
            if report.source is None:
                raise InputError("pass the sample: this report has no source path")
            sample = report.source
        return self.load(sample)
