"""A self-contained HTML report of an evaluation: every picture is embedded as a ``data:`` URL.

Sections: the per-category metric table, ROC curves (matplotlib PNGs) over each modality's units, and the worst
false positives and false negatives of each category, each drawn by its modality
(:meth:`~genad.Modality.eval_picture`: images with the report's overlay and the ground truth outlined in green,
point clouds rendered, series and videos as score plots with the ground truth shaded).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genad._registry import get_modality
from genad.errors import GenadError
from genad.eval._datasets import Dataset
from genad.eval._runner import EvalRecord

__all__ = ["render_report", "write_report"]

THUMB_MAX = 480

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px} .meta{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:13px} th,td{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left} tr.mean td{font-weight:600;border-top:2px solid #999}
.cards{display:flex;flex-wrap:wrap;gap:12px} .card{width:330px;border:1px solid #ddd;border-radius:6px;padding:6px}
.card img{width:100%;display:block;border-radius:4px} .card p{font-size:12px;margin:4px 0;word-break:break-all}
.fp{color:#b00} .fn{color:#a60} .ok{color:#373} img.plot{max-width:100%}
"""


def write_report(path: str | Path, dataset: Dataset, records: Sequence[EvalRecord], summary: dict[str, Any],
                 *, n_worst: int = 4) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(dataset, records, summary, n_worst=n_worst), encoding="utf-8")
    return out


def render_report(dataset: Dataset, records: Sequence[EvalRecord], summary: dict[str, Any],
                  *, n_worst: int = 4) -> str:
    """The report as one HTML string."""
    usage = summary.get("usage", {})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>genad eval · {_e(dataset.root.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>genad eval · {_e(dataset.root.name)}</h1>",
        f"<p class='meta'>format {_e(summary['format'])} · mode {_e(summary['mode'])} · shots {summary['shots']} · "
        f"{len(records)} scored samples · {usage.get('requests', 0)} VLM requests · "
        f"{usage.get('prompt_tokens', 0) + usage.get('completion_tokens', 0)} tokens</p>",
        "<h2>Metrics</h2>", _metric_table(summary),
    ]
    roc = _roc_figure(records)
    if roc:
        parts += ["<h2>ROC curves</h2>", f"<img class='plot' alt='ROC curves' src='{roc}'>"]
    parts.append("<h2>Worst false positives and false negatives</h2>")
    for category in dataset.categories:
        recs = [r for r in records if r.item.category == category and r.report.ok and r.report.score is not None]
        normal = sorted((r for r in recs if r.item.label == 0), key=lambda r: -(r.report.score or 0.0))[:n_worst]
        anomalous = sorted((r for r in recs if r.item.label == 1), key=lambda r: r.report.score or 0.0)[:n_worst]
        parts.append(f"<h3>{_e(category)}</h3>")
        parts.append(_cards(normal, "fp", "highest-scored normal samples") if normal else "")
        parts.append(_cards(anomalous, "fn", "lowest-scored anomalous samples") if anomalous else "")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _metric_table(summary: dict[str, Any]) -> str:
    counts = {"n", "n_anomalous", "errors"}
    keys = list(dict.fromkeys([*(k for block in summary["categories"].values() for k in block if k not in counts),
                               *summary["mean"]]))
    head = "".join(f"<th>{_e(k)}</th>" for k in ["category", "n", "anomalous", "errors", *keys])
    rows = []
    for name, block in summary["categories"].items():
        cells = [name, block["n"], block.get("n_anomalous", ""), block.get("errors", 0),
                 *(block.get(k) for k in keys)]
        rows.append("<tr>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in cells) + "</tr>")
    mean = ["mean", "", "", "", *(summary["mean"].get(k) for k in keys)]
    rows.append("<tr class='mean'>" + "".join(f"<td>{_e(_fmt(c))}</td>" for c in mean) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# ---------------------------------------------------------------- pictures


def _jpeg(image: np.ndarray) -> str:
    """A thumbnail (longest side at most ``THUMB_MAX``) as a JPEG data URL."""
    import cv2

    h, w = image.shape[:2]
    if max(h, w) > THUMB_MAX:
        scale = THUMB_MAX / max(h, w)
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise GenadError("could not encode a report image")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _figure_url(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _roc_figure(records: Sequence[EvalRecord]) -> str | None:
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = Figure(figsize=(6.4, 5.2))
    ax = fig.add_subplot()
    drawn = 0
    for category in sorted({r.item.category for r in records}):
        recs = [r for r in records if r.item.category == category and r.report.ok and r.report.score is not None]
        if not recs:
            continue
        labels, scores = get_modality(recs[0].item.modality).roc_points(recs)
        if np.unique(labels).size < 2:
            continue
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{category} ({labels.size} points, AUROC {roc_auc_score(labels, scores):.3f})")
        drawn += 1
    if not drawn:
        return None
    ax.plot([0, 1], [0, 1], color="#bbb", linestyle="--", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return _figure_url(fig)


def _cards(records: Sequence[EvalRecord], kind: str, title: str) -> str:
    cards = []
    for r in records:
        picture = _picture(r)
        img = f"<img alt='{_e(r.item.name)}' src='{picture}'>" if picture else "<p>(no picture)</p>"
        said = bool(r.report.is_anomalous)
        wrong = said != bool(r.item.label)
        verdict = ("false positive" if kind == "fp" else "false negative") if wrong else "correct"
        text = r.report.explanation[:300]
        cards.append(
            f"<div class='card'>{img}<p><b>{_e(r.item.name)}</b></p>"
            f"<p class='{kind if wrong else 'ok'}'>{verdict} · score {r.report.score:.3f} · said "
            f"{'anomalous' if said else 'normal'} · truth {_e(r.item.defect_type)}</p>"
            + (f"<p>{_e(text)}</p>" if text else "") + "</div>")
    return f"<p class='meta'>{_e(title)}</p><div class='cards'>{''.join(cards)}</div>"


def _picture(record: EvalRecord) -> str | None:
    """The record's picture by its modality (an overlay, a rendering, a score plot); ``None`` if unavailable."""
    try:
        picture = get_modality(record.item.modality).eval_picture(record)
    except (GenadError, ImportError, OSError, ValueError):
        return None
    return _jpeg(picture) if picture is not None else None
