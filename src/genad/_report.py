"""The result of one detection: :class:`AnomalyReport`, its :class:`Region` list and :class:`Usage`."""

from __future__ import annotations

import base64
import io
import json
import warnings
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["AnomalyReport", "Region", "Usage"]

Status = Literal["ok", "error"]


@dataclass(frozen=True)
class Usage:
    """Tokens and requests spent on one report (zero when no VLM was called)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )


@dataclass(frozen=True, eq=False)
class Region:
    """Where an anomaly is, always in the sample's own coordinates.

    Exactly the fields that fit the modality are set:

    - images: ``box`` as ``(x0, y0, x1, y1)`` pixels (and optionally ``mask``, a boolean array of the image's size);
    - point clouds: ``indices`` of the points;
    - videos: ``interval`` as inclusive ``(first_frame, last_frame)``, ``span`` in seconds;
    - series: ``interval`` as inclusive positions ``(start, end)``, ``span`` as index labels (timestamps).

    ``view`` is the rendered image the VLM pointed at (0-based), when it came from a VLM.
    """

    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None
    indices: np.ndarray | None = None
    interval: tuple[int, int] | None = None
    span: tuple[Any, Any] | None = None
    label: str = ""
    confidence: float | None = None
    source: Literal["vlm", "expert", "hybrid"] = "vlm"
    view: int | None = None

    @property
    def kind(self) -> str:
        """``"mask"``, ``"box"``, ``"points"``, ``"interval"`` or ``"none"``."""
        if self.mask is not None:
            return "mask"
        if self.box is not None:
            return "box"
        if self.indices is not None:
            return "points"
        if self.interval is not None:
            return "interval"
        return "none"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label, "source": self.source}
        if self.confidence is not None:
            out["confidence"] = float(self.confidence)
        if self.view is not None:
            out["view"] = int(self.view)
        if self.box is not None:
            out["box"] = [float(v) for v in self.box]
        if self.mask is not None:
            out["mask"] = _encode_mask(self.mask)
        if self.indices is not None:
            out["indices"] = [int(i) for i in self.indices]
        if self.interval is not None:
            out["interval"] = [int(v) for v in self.interval]
        if self.span is not None:
            out["span"] = [_jsonable(v) for v in self.span]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Region:
        return cls(
            box=tuple(data["box"]) if data.get("box") is not None else None,
            mask=_decode_mask(data["mask"]) if data.get("mask") is not None else None,
            indices=np.asarray(data["indices"], dtype=np.int64) if data.get("indices") is not None else None,
            interval=tuple(data["interval"]) if data.get("interval") is not None else None,
            span=tuple(data["span"]) if data.get("span") is not None else None,
            label=data.get("label", ""),
            confidence=data.get("confidence"),
            source=data.get("source", "vlm"),
            view=data.get("view"),
        )

    def __repr__(self) -> str:
        parts = []
        if self.box is not None:
            parts.append("box=(" + ", ".join(f"{v:.0f}" for v in self.box) + ")")
        if self.mask is not None:
            parts.append(f"mask={int(np.count_nonzero(self.mask))}px")
        if self.indices is not None:
            parts.append(f"points={len(self.indices)}")
        if self.interval is not None:
            parts.append(f"interval=({self.interval[0]}, {self.interval[1]})")
        if self.span is not None:
            parts.append(f"span=({_jsonable(self.span[0])}, {_jsonable(self.span[1])})")
        if self.label:
            parts.append(f"label={self.label!r}")
        if self.confidence is not None:
            parts.append(f"confidence={self.confidence:.2f}")
        return "Region(" + ", ".join([*(parts or ["anywhere"]), f"source={self.source!r}"]) + ")"


@dataclass(frozen=True, eq=False)
class AnomalyReport:
    """A checkable verdict on one sample.

    ``score`` is in [0, 1], higher is more anomalous; ``is_anomalous`` is the verdict. ``status`` is ``"error"``
    when detection failed (then ``error`` says why and the verdict fields are ``None``). ``model`` is ``None``
    when no VLM was used (local expert only). ``anomaly_map`` is the expert's dense score in native
    coordinates (pixels, points, frames or positions) when an expert ran.
    """

    is_anomalous: bool | None
    score: float | None
    anomaly_type: str | None = None
    regions: tuple[Region, ...] = ()
    explanation: str = ""
    modality: str = "image"
    source: str | None = None
    mode: str = "vlm"
    model: str | None = None
    prompt_strategy: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    status: Status = "ok"
    error: str | None = None
    error_type: str | None = None
    raw: str | None = None
    expert_score: float | None = None
    vlm_score: float | None = None
    confidence: float | None = None
    notes: tuple[str, ...] = ()
    anomaly_map: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def failed(cls, exc: BaseException, *, modality: str = "unknown", source: str | None = None,
               mode: str = "vlm", latency_s: float = 0.0) -> AnomalyReport:
        """A report with ``status="error"`` carrying the error's type and message."""
        return cls(
            is_anomalous=None, score=None, modality=modality, source=source, mode=mode, status="error",
            error=str(exc), error_type=type(exc).__name__, latency_s=latency_s,
        )

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def replace(self, **changes: Any) -> AnomalyReport:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self, *, include_map: bool = False) -> dict[str, Any]:
        """A JSON-safe dict; the dense ``anomaly_map`` only with ``include_map=True`` (as base64 ``.npy``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "regions":
                out["regions"] = [r.to_dict() for r in value]
            elif f.name == "usage":
                out["usage"] = {"prompt_tokens": value.prompt_tokens, "completion_tokens": value.completion_tokens,
                                "requests": value.requests}
            elif f.name == "notes":
                out["notes"] = list(value)
            elif f.name == "anomaly_map":
                if include_map and value is not None:
                    buf = io.BytesIO()
                    np.save(buf, np.asarray(value, dtype=np.float32))
                    out["anomaly_map"] = base64.b64encode(buf.getvalue()).decode("ascii")
            else:
                out[f.name] = _jsonable(value)
        return out

    def to_json(self, *, include_map: bool = False, indent: int | None = 2) -> str:
        """The report as JSON: :meth:`to_dict`, indented by ``indent`` spaces (one line with ``None``).

        Lists of numbers and strings (boxes, point indices, the run lengths of a region mask) stay on one line
        whatever the indent, so a mask does not cost one line per run.
        """
        data = self.to_dict(include_map=include_map)
        if indent is None:
            return json.dumps(data, separators=(",", ":"))
        return _dumps(data, " " * indent, "")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnomalyReport:
        """Rebuild a report written by :meth:`to_dict`."""
        kwargs = dict(data)
        kwargs["regions"] = tuple(Region.from_dict(r) for r in data.get("regions", ()))
        kwargs["usage"] = Usage(**data.get("usage", {}))
        kwargs["notes"] = tuple(data.get("notes", ()))
        encoded = data.get("anomaly_map")
        kwargs["anomaly_map"] = np.load(io.BytesIO(base64.b64decode(encoded))) if encoded else None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in kwargs.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> AnomalyReport:
        return cls.from_dict(json.loads(text))

    def __repr__(self) -> str:
        if self.status == "error":
            return (f"AnomalyReport(status='error', error_type={self.error_type!r}, error={self.error!r}, "
                    f"source={self.source!r})")
        verdict = "anomalous" if self.is_anomalous else "normal"
        parts = [verdict, f"score={self.score:.3f}" if self.score is not None else "score=None"]
        if self.anomaly_type:
            parts.append(f"type={self.anomaly_type!r}")
        parts.append(f"regions={len(self.regions)}")
        parts.append(f"modality={self.modality!r}")
        parts.append(f"mode={self.mode!r}")
        parts.append(f"model={self.model!r}")
        if self.source:
            parts.append(f"source={self.source!r}")
        return "AnomalyReport(" + ", ".join(parts) + ")"

    def picture(self, sample: Any = None) -> np.ndarray:
        """An RGB picture of the report drawn on its sample, by the report's modality.

        Images show the anomaly map as a heatmap with the regions' boxes and outlines; other modalities show
        their rendering with the regions marked. ``sample`` defaults to the report's ``source`` path.
        """
        from genad._registry import get_modality

        return get_modality(self.modality).picture(self, sample)

    def overlay(self, image: Any) -> np.ndarray:
        """Deprecated alias of :meth:`picture`."""
        warnings.warn("AnomalyReport.overlay() is deprecated; use picture()", DeprecationWarning, stacklevel=2)
        return self.picture(image)

    def plot(self, sample: Any = None, ax: Axes | None = None) -> Axes:
        """Show :meth:`picture` with matplotlib, titled with the verdict; returns the axes."""
        from genad._registry import get_modality

        return get_modality(self.modality).plot(self, sample, ax)

    @property
    def headline(self) -> str:
        """``"anomalous (0.87): scratch"``: the verdict, score and type in a few words."""
        if not self.ok:
            return f"error: {self.error_type}"
        verdict = "anomalous" if self.is_anomalous else "normal"
        score = "—" if self.score is None else f"{self.score:.2f}"
        return f"{verdict} ({score})" + (f": {self.anomaly_type}" if self.anomaly_type else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _dumps(value: Any, step: str, pad: str) -> str:
    """``json.dumps(value, indent=len(step))``, except that lists holding no list or dict stay on one line."""
    inner = pad + step
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {_dumps(v, step, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple, dict)) for v in value):
        return "[\n" + ",\n".join(inner + _dumps(v, step, inner) for v in value) + "\n" + pad + "]"
    return json.dumps(value, separators=(",", ":") if isinstance(value, (list, tuple)) else None)


def _encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """Run-length encoding of a boolean mask in row-major order, starting with a run of False."""
    flat = np.asarray(mask, dtype=bool).ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"shape": list(mask.shape), "rle": runs}


def _decode_mask(data: dict[str, Any]) -> np.ndarray:
    runs = data["rle"]
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(data["shape"])
