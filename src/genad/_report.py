"""The result of one detection: :class:`AnomalyReport`, its :class:`Region` list and :class:`Usage`."""

from __future__ import annotations

import base64
import html
import io
import json
import struct
import threading
import warnings
import weakref
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["AnomalyReport", "Region", "Usage"]

Status = Literal["ok", "error"]


@dataclass(frozen=True)
class Usage:
    """Tokens and requests spent on one report (zero when no VLM was called); reports' usages add up with ``+``.

    Parameters
    ----------
    prompt_tokens, completion_tokens
        Tokens sent and received.
    requests
        Requests made, re-asks included.
    """

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
    """Where an anomaly is, always in the sample's own coordinates; the fields that fit the modality are set.

    Parameters
    ----------
    box
        Images: ``(x0, y0, x1, y1)`` in pixels.
    mask
        Images: a boolean array of the image's size.
    indices
        Point clouds: indices of the points.
    interval
        Videos: inclusive ``(first_frame, last_frame)``; series: inclusive positions ``(start, end)``; a
        plug-in's 1-D coordinates (audio samples) likewise.
    span
        The interval's ends in the sample's own units: seconds for videos, index labels (timestamps) for series.
    label
        What the anomaly is ("scratch").
    confidence
        How sure its source is, 0 to 1.
    source
        ``"vlm"``, ``"expert"`` or ``"hybrid"`` (an expert's candidate the VLM confirmed).
    view
        The rendered image the VLM pointed at (0-based), when it came from a VLM.
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
    """A checkable verdict on one sample; in a notebook it shows itself with its picture.

    Parameters
    ----------
    is_anomalous
        The verdict (``None`` when detection failed).
    score
        In [0, 1], higher is more anomalous.
    anomaly_type
        A short name ("scratch", "missing part"), or ``None``.
    regions
        Where, in the sample's own coordinates (see :class:`Region`).
    explanation
        Why, in words.
    modality, source
        The modality's name and where the sample came from (a path), or ``None``.
    mode, model, prompt_strategy
        How it was made: ``"local"``, ``"vlm"`` or ``"hybrid"``; the VLM (``None`` when none was used); the
        prompt builder's name.
    usage, latency_s
        Tokens and requests spent, and seconds taken.
    status, error, error_type
        ``"ok"``, or ``"error"`` with the failure's message and type (then the verdict fields are ``None``).
    raw
        The VLM's replies, separated by ``---`` lines.
    expert_score, vlm_score
        Each side's score in hybrid mode.
    confidence
        How often verdicts like this one were right, 0 to 1, when the expert states it (see its notes).
    notes
        What a reader should know: what was clipped or dropped, how the score was calibrated.
    anomaly_map
        The expert's dense scores in native coordinates (pixels, points, frames or positions) when one ran.
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
        if self.confidence is not None:
            parts.append(f"confidence={self.confidence:.2f}")
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

    def _repr_html_(self) -> str:
        """The report in a notebook: verdict, score, type, confidence, regions as a table, notes and, when the
        sample can be loaded from ``source``, its :meth:`picture` inline (a base64 PNG). Never raises."""
        try:
            return _html(self)
        except Exception:  # a repr must not raise: fall back to the plain text
            return f"<pre>{html.escape(repr(self))}</pre>"

    def _repr_png_(self) -> bytes | None:
        """A compact PNG of :meth:`picture` (at most 480 pixels on a side) for front ends that show images;
        ``None`` when the report has no picture. Never raises."""
        try:
            picture, _ = _picture_of(self)
            return None if picture is None else _png(picture, PNG_MAX_SIDE)
        except Exception:
            return None


HTML_MAX_SIDE = 1200
"""Pictures in :meth:`AnomalyReport._repr_html_` are shrunk to at most this many pixels on a side."""
PNG_MAX_SIDE = 480
"""And in :meth:`AnomalyReport._repr_png_`, to at most this many."""
_MAX_ROWS = 20
_PICTURES: OrderedDict[int, tuple[weakref.ref[AnomalyReport], np.ndarray | None, str]] = OrderedDict()
_PICTURES_KEPT = 4  # a notebook asks for every format of a report at once: keep the last few pictures, no more
_PICTURES_LOCK = threading.Lock()


def _picture_of(report: AnomalyReport) -> tuple[np.ndarray | None, str]:
    """The report's picture drawn by its modality from ``report.source``, or ``None`` and why not (kept for the
    last few reports, so that the HTML and PNG views of one display draw it once)."""
    with _PICTURES_LOCK:
        kept = _PICTURES.get(id(report))
        if kept is not None and kept[0]() is report:
            return kept[1], kept[2]
    picture: np.ndarray | None = None
    why_not = ""
    if report.source is not None:
        try:
            from genad._registry import get_modality

            picture = np.asarray(get_modality(report.modality).picture(report))
        except Exception as exc:  # a missing file, an unknown modality, a modality that cannot draw
            why_not = f"no picture: {type(exc).__name__}: {exc}"
    with _PICTURES_LOCK:
        _PICTURES[id(report)] = (weakref.ref(report), picture, why_not)
        _PICTURES.move_to_end(id(report))
        while len(_PICTURES) > _PICTURES_KEPT:
            _PICTURES.popitem(last=False)
    return picture, why_not


def _png(picture: np.ndarray, max_side: int) -> bytes:
    """An RGB (or grey) uint8 picture as PNG bytes, shrunk by block averaging to at most ``max_side`` pixels on a
    side; written with zlib alone, so the report needs no imaging library."""
    rgb = np.asarray(picture)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    rgb = np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
    factor = -(-max(rgb.shape[:2]) // max_side)
    if factor > 1:
        h, w = (rgb.shape[0] // factor) * factor, (rgb.shape[1] // factor) * factor
        blocks = rgb[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).astype(np.float32)
        rgb = (blocks.mean(axis=(1, 3)) + 0.5).astype(np.uint8)
    h, w = rgb.shape[:2]
    rows = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # filter type 0 (none) before each row
    rows[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6))
            + chunk(b"IEND", b""))


def _where(region: Region) -> str:
    """A region's place in words, in the sample's coordinates."""
    parts = []
    if region.box is not None:
        parts.append("box (" + ", ".join(f"{v:.0f}" for v in region.box) + ")")
    if region.mask is not None:
        parts.append(f"mask of {int(np.count_nonzero(region.mask))} px")
    if region.indices is not None:
        parts.append(f"{len(region.indices)} points")
    if region.interval is not None:
        parts.append(f"{region.interval[0]} to {region.interval[1]}")
    if region.span is not None:
        parts.append(f"({_jsonable(region.span[0])} to {_jsonable(region.span[1])})")
    if region.view is not None:
        parts.append(f"on image {region.view + 1}")
    return " ".join(parts) or "anywhere"


def _html(report: AnomalyReport) -> str:
    esc = html.escape
    cell = 'style="padding:2px 8px;text-align:left;border-bottom:1px solid #ddd"'
    out = ['<div class="genad-report" style="font-family:sans-serif;line-height:1.4">']
    if not report.ok:
        out.append(f'<div><b style="color:#7f7f7f">error</b> {esc(str(report.error_type))}: '
                   f"{esc(str(report.error))}</div>")
    else:
        colour = "#c0392b" if report.is_anomalous else "#1e8449"
        verdict = "anomalous" if report.is_anomalous else "normal"
        facts = [f'<b style="color:{colour};font-size:1.15em">{verdict}</b>',
                 "score " + ("—" if report.score is None else f"<b>{report.score:.3f}</b>")]
        if report.anomaly_type:
            facts.append(f"type <b>{esc(report.anomaly_type)}</b>")
        if report.confidence is not None:
            facts.append(f"confidence {report.confidence:.2f}")
        out.append("<div>" + " · ".join(facts) + "</div>")
    about = [report.modality, f"{report.mode} mode", f"model {report.model}" if report.model else "no VLM"]
    if report.source:
        about.append(report.source)
    out.append('<div style="color:#666;font-size:0.85em">' + esc(" · ".join(about)) + "</div>")
    if report.explanation:
        out.append(f'<div style="margin:4px 0">{esc(report.explanation)}</div>')
    if report.regions:
        head = "".join(f"<th {cell}>{name}</th>" for name in ("#", "where", "label", "confidence", "source"))
        rows = []
        for number, region in enumerate(report.regions[:_MAX_ROWS], 1):
            confidence = "" if region.confidence is None else f"{region.confidence:.2f}"
            values = (str(number), _where(region), region.label, confidence, region.source)
            rows.append("<tr>" + "".join(f"<td {cell}>{esc(v)}</td>" for v in values) + "</tr>")
        more = len(report.regions) - _MAX_ROWS
        if more > 0:
            rows.append(f'<tr><td {cell} colspan="5">and {more} more</td></tr>')
        out.append('<table style="border-collapse:collapse;font-size:0.9em;margin:4px 0">'
                   f"<tr>{head}</tr>{''.join(rows)}</table>")
    if report.notes:
        out.append('<ul style="margin:2px 0;padding-left:1.2em;font-size:0.85em;color:#444">'
                   + "".join(f"<li>{esc(note)}</li>" for note in report.notes) + "</ul>")
    picture, why_not = _picture_of(report) if report.ok else (None, "")
    if picture is not None:
        data = base64.b64encode(_png(picture, HTML_MAX_SIDE)).decode("ascii")
        out.append(f'<img src="data:image/png;base64,{data}" alt="{esc(report.headline)}" '
                   'style="max-width:100%;margin-top:4px"/>')
    elif why_not:
        out.append(f'<div style="color:#999;font-size:0.8em">{esc(why_not)}</div>')
    out.append("</div>")
    return "\n".join(out)


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
